"""Batch coding: the resumable table runner, its work folder, and the server's background jobs."""
