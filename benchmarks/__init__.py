"""Benchmarks: scripts run from the command line, each printing a table and writing JSON to
``benchmarks/results/``; ``api_server`` is what two of them share."""
