"""Network partition: the path between the users and the target is cut for --recovery-down seconds.

    locust -f locustfiles/recovery_partition.py --headless -u 10 -r 10 -t 30s --csv run --recovery-at 10

With no --host, the target is started behind stresskit's fault proxy and the proxy goes *down*
(connections cut and refused). Between machines, pass --partition-link NETNS:DEV to set a real
link down and up (``ip -n NETNS link set DEV down``), as tests/distributed/test_partition.py does
with hosts in network namespaces. Each user's time to its next success after the cut is
``RECOVERY network_partition``.
"""

from locust import constant, events

from stresskit.core.options import register_options
from stresskit.faults import use_faults
from stresskit.faults.recovery import use_recovery
from stresskit.run.embedded import use_managed_target
from stresskit.users.api import ApiUser, Endpoint, add_arguments

register_options(events, add_arguments)
use_managed_target(events, with_proxy=True)
use_faults(events)
use_recovery(events, "network_partition")


class PartitionedApiUser(ApiUser):
    wait_time = constant(0.1)
    network_timeout = 1.0
    connection_timeout = 1.0
    backoff_max = 0.5
    endpoints = (Endpoint("GET", "/api/items?limit=5", name="/api/items"),)
