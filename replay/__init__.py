"""The audit side: histories, state as of any moment, integrity proofs."""
