"""Search: hybrid dense and BM25 retrieval over a store, dated retrieval, syndicated copies."""
