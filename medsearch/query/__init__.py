"""Pieces of the query path behind ``medsearch.search``: vector ranking (ANN + exact rescoring)."""
