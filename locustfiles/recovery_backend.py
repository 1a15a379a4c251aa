"""Backend crash and recovery: the target is SIGKILLed mid-run and restarted on the same port.

    locust -f locustfiles/recovery_backend.py --headless -u 20 -r 20 -t 30s --csv run \\
        --recovery-at 10 --recovery-down 3

With no --host, a restartable reference target (and Redis) is started for the run; with --host
and --target-admin-token, the target is asked to exit (POST /admin/exit) and its supervisor must
restart it. Every API user owes a recovery from the crash: the time to its next success is the
``RECOVERY backend_crash`` stats entry; ``<prefix>_faults.csv`` has the crash, each user's
recovery and the time until the target served again.
"""

from locust import constant, events

from stresskit.core.options import register_options
from stresskit.faults import use_faults
from stresskit.faults.recovery import use_recovery
from stresskit.run.embedded import use_managed_target
from stresskit.users.api import REFERENCE_ENDPOINTS, ApiUser, add_arguments

register_options(events, add_arguments)
use_managed_target(events)
use_faults(events)
use_recovery(events, "backend_crash")


class RecoveringApiUser(ApiUser):
    wait_time = constant(0.1)
    endpoints = REFERENCE_ENDPOINTS
    network_timeout = 2.0
    connection_timeout = 2.0
    backoff_max = 1.0
    """Retry at least every second while the backend is down."""
