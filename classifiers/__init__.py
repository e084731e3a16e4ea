"""Codebooks and everything that decides a label. Knows nothing of HTTP or files on the user's side."""
