"""Long-term knowledge: SQL rows (text, provenance, expiry, vectors) with a FAISS index beside them.

Modules: ``tables`` (rows), ``schema`` (full-text DDL), ``embedders``, ``vectors`` (FAISS),
``lexical`` (FTS5 / PostgreSQL full text), ``wordindex`` (FTS5's BM25 in memory, SQLite) and ``porter``
(its tokenizer), ``fusion`` (RRF), ``sync`` (index kept in step with SQL),
``store`` (the interface), ``errors``.
"""
