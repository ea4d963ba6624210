"""Benchmarks: each module runs as `.venv/bin/python -m bench.<name>` and updates docs/benchmarks.md."""
