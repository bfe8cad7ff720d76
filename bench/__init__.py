"""Benchmarks: `python -m bench` (full) and `python -m bench --quick` (make bench)."""
