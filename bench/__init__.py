"""Benchmarks of the helpdesk suite: `make bench` runs bench/run.py."""
