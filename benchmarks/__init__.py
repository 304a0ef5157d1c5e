"""Benchmarks (not tests): ``python -m benchmarks`` (or ``make bench``) prints the tables of
docs/benchmarks.md. See benchmarks/__main__.py."""
