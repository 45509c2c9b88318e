"""Benchmarks of nengo_native against nengo.Simulator (and NengoDL where available).

Run ``python -m bench --help``. This package imports neither nengo_native nor
NengoDL at import time, so any interpreter with nengo can run its workers.
"""
