"""The cluster: distributed checks (workers, hosts, clocks) and the page quota shared by every
worker. See ARCHITECTURE.md.
"""
