"""Foundations every layer may import: no Locust; the standard library, psutil (browser processes)
and greenlet (lateness) only.

The user-kind registry, per-run plumbing, the Environment protocol, exit codes and limits, options,
secret redaction, file schemas, process and browser-process helpers. See ARCHITECTURE.md.
"""
