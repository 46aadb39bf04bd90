"""Store: the index on disk and what writes it.

The store and its vector backends (FAISS, Milvus), BM25, the indexer that chunks and embeds
before it writes, `qa status`, the writer lock and the embedding checkpoints of large articles.
"""
