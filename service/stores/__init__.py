"""Everything the service keeps on disk: SQLite stores (records, keys, feedback) and the catalogue."""
