"""The domain: aggregates of the consultation procedure and the rules they enforce."""
