"""Benchmarks run by `market-sim bench NAME`; each module defines run(**options) -> dict."""
