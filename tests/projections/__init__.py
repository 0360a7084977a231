"""Tests of the read side: appliers, the runner's exactly-once batches, rebuild, commands."""
