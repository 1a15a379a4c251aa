"""The TCP fault proxy: ``stresskit proxy``, a small Toxiproxy work-alike between users and target.

Run it in front of the target and point the users at it::

    stresskit proxy --api 127.0.0.1:8474 --proxy target=127.0.0.1:8100=127.0.0.1:8089
    locust -f ... --host http://127.0.0.1:8100 --fault-proxy http://127.0.0.1:8474

Each proxy forwards TCP connections from ``listen`` to ``upstream``; *toxics* change the traffic
while the run goes on, with Toxiproxy's semantics (``stream`` is ``upstream`` for client→server,
``downstream`` for server→client; ``toxicity`` is the share of connections a toxic affects):

=============  ====================  ==============================================================
toxic          attributes            effect
=============  ====================  ==============================================================
latency        latency, jitter (ms)  every chunk is delayed by latency ± jitter (order kept)
bandwidth      rate (KB/s)           the stream is paced to ``rate`` kilobytes per second
slow_close     delay (ms)            the close is passed on only after ``delay``
timeout        timeout (ms)          data is dropped; after ``timeout`` the connection is closed
                                     (0: kept open: a blackhole); as in Toxiproxy, removing the
                                     toxic closes every connection it held (their bytes are gone)
reset_peer     timeout (ms)          after ``timeout`` the connection is reset (TCP RST)
slicer         average_size,         chunks are cut into pieces of about ``average_size`` bytes,
               size_variation,       ``delay`` microseconds apart
               delay (µs)
limit_data     bytes                 the connection is closed after ``bytes`` bytes
=============  ====================  ==============================================================

A proxy switched off (``{"enabled": false}``, Toxiproxy's *down*) stops listening and cuts every
connection: a partition. The control API is Toxiproxy's (the subset in
:mod:`stresskit.faults.toxiproxy`), so the same client drives this proxy or a real Toxiproxy.
The API binds to loopback unless a ``--token`` is given; with a token every call needs
``Authorization: Bearer``.

Standard library ``asyncio`` plus aiohttp for the API; no Locust, no gevent. The pieces, shaped like
:mod:`stresskit.agent`: :mod:`~stresskit.faults.proxy.server` (proxies, toxics, the API),
:mod:`~stresskit.faults.proxy.cli` (``stresskit proxy``) and :mod:`~stresskit.faults.proxy.launcher`
(a child process from Python). Importing this package starts nothing.
"""

from stresskit.faults.proxy.launcher import FaultProxyProcess, start_fault_proxy

__all__ = ["DESCRIPTION", "FaultProxyProcess", "start_fault_proxy"]

DESCRIPTION = "The TCP fault proxy: ``stresskit proxy``, a small Toxiproxy work-alike between users and target."
"""One line for ``stresskit proxy --help``."""
