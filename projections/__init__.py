"""The read side: DuckDB views rebuilt from the log."""
