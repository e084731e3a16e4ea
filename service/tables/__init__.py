"""Tables researchers bring (CSV, TSV, XLSX, JSONL, Parquet): formats, streaming readers and writers."""
