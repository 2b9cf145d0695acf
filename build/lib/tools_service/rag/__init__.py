"""Retrieval-augmented generation for the tools app.

`parsing` turns uploaded files into text, `chunking` cuts it, `store` keeps each
collection's chunks, embeddings and FAISS index on disk (atomically, versioned),
`retrieve` ranks chunks (dense, BM25, reciprocal rank fusion, cross-encoder), and
`engine` ties them together with per-collection locking for the HTTP routes.
"""
