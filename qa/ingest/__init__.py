"""Ingest: read article files, decode them, cut them into passages; doc ids and dates.

Nothing here touches the index or a model.
"""
