"""The read side: DuckDB views rebuilt from the log (docs/analytics.md).

Import from the modules (``projections.runner``, ``projections.rebuild`` …): the package
itself imports nothing, so that the rebuild's reader child (``python -m
projections.people_reader``) loads only what it uses.
"""
