"""The fault suite: real processes, real faults, figures (``python -m tests.faults``)."""
