"""BM25 over training prompts and responses: the baseline every attribution method must beat.

Okapi BM25 (Robertson and Zaragoza 2009) with the non-negative idf of Lucene:

    idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
    score(q, d) = sum over query tokens t of idf(t) * tf(t, d) (k1 + 1)
                  / (tf(t, d) + k1 (1 - b + b |d| / avgdl))

Tokens are lower-cased word characters (``\\w+``); a token repeated in the query
counts once per occurrence. The document-side weights are precomputed into one
sparse matrix, so scoring a batch of queries is one sparse product.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy import sparse

TOKEN = re.compile(r"\w+")
DEFAULT_K1 = 1.5
DEFAULT_B = 0.75


def tokenize(text: str) -> list[str]:
    """Lower-cased word-character tokens."""
    return TOKEN.findall(text.lower())


class BM25:
    """An index over documents; ``scores(queries)`` gives (n_queries, n_docs) BM25 scores."""

    def __init__(self, docs: Sequence[str], k1: float = DEFAULT_K1, b: float = DEFAULT_B) -> None:
        from scipy import sparse

        self.k1, self.b = k1, b
        self.vocab: dict[str, int] = {}
        rows, cols = [], []
        for i, doc in enumerate(docs):
            for token in tokenize(doc):
                rows.append(i)
                cols.append(self.vocab.setdefault(token, len(self.vocab)))
        n, v = len(docs), len(self.vocab)
        ones = np.ones(len(rows), dtype=np.float64)
        tf = sparse.csr_matrix((ones, (rows, cols)), shape=(n, v))  # duplicates are summed
        tf.sum_duplicates()
        self.n_docs = n
        self.doc_len = np.asarray(tf.sum(axis=1)).ravel()
        self.avgdl = float(self.doc_len.mean()) if n else 0.0
        self.df = np.bincount(tf.indices, minlength=v)
        self.idf = np.log1p((n - self.df + 0.5) / (self.df + 0.5))
        # Document-side weight of every (doc, term) entry.
        norm = k1 * (1 - b + b * self.doc_len / max(self.avgdl, 1e-9))
        row_of = np.repeat(np.arange(n), np.diff(tf.indptr))
        data = tf.data * (k1 + 1) / (tf.data + norm[row_of]) * self.idf[tf.indices]
        self.weights = sparse.csr_matrix((data, tf.indices, tf.indptr), shape=(n, v))

    def query_matrix(self, queries: Sequence[str]) -> sparse.csr_matrix:
        """Counts of known terms per query (n_queries, vocab)."""
        from scipy import sparse

        rows, cols = [], []
        for i, query in enumerate(queries):
            for token in tokenize(query):
                j = self.vocab.get(token)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
        ones = np.ones(len(rows), dtype=np.float64)
        return sparse.csr_matrix((ones, (rows, cols)), shape=(len(queries), len(self.vocab)))

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """(n_queries, n_docs) BM25 scores, float32."""
        if not self.vocab:
            return np.zeros((len(queries), self.n_docs), dtype=np.float32)
        product = self.query_matrix(queries) @ self.weights.T
        return np.asarray(product.todense(), dtype=np.float32)
