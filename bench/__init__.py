"""Benchmarks: `python -m bench <name>` prints figures and ratios against a baseline measured in the same run.

Targets are checked here, never by timed assertions in tests; docs/benchmarks.md keeps the figures.
"""
