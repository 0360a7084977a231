"""The write side and entry points: aggregates, the application, the ``hsl`` command."""
