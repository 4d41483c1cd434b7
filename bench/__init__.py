"""Benchmarks: each script prints a table and records it in docs/BENCHMARKS.md."""
