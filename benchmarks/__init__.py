"""Benchmarks run by hand against trained artifacts (``python -m benchmarks.serve``); not part of the package."""
