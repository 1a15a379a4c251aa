"""Foundations every layer may import: no Locust, standard library (and gevent for lateness) only.

The user-kind registry, per-run plumbing, the Environment protocol, exit codes and limits, options,
secret redaction, file schemas, process helpers. See ARCHITECTURE.md.
"""
