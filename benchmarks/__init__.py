"""Benchmarks: scripts that measure and write JSON results, run from the project's root as
`python -m benchmarks.NAME`. harness.py holds what they share."""
