"""Observation: the resource collector, latency sketches, final CSVs, Prometheus metrics, the
stats bound, the web UI tabs, form and login, browser memory. See ARCHITECTURE.md.
"""
