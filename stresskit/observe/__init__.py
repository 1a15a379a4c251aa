"""Observation: the resource collector, latency sketches, final CSVs, Prometheus metrics, the
stats bound, the web UI tabs, form and login. See ARCHITECTURE.md.
"""
