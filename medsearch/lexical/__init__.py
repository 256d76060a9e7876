"""Lexical side of search: clinical tokenisation, sentence-level assertion (negated/uncertain/historical), the
query's clauses for the full-text index, and the explanation of a match. Pure Python, no database here."""
