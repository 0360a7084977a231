"""The name of the DuckDB file holding the views in a data directory."""

from typing import Final

VIEWS_FILE: Final = "projections.duckdb"
"""``<HSL_DATA_DIR>/projections.duckdb``: what ``hsl project`` keeps current and the API reads."""
