"""The load generator behind a server comparison: timed requests, concurrent users, the figures of a run.

``clients`` sends one request of each kind (JSON, SSE, WebSocket) and times it, reading streams with ``sse``
(the one Server-Sent Events parser); ``runner`` releases N users at once against a URL; ``figures`` summarizes
a run. ``procstats`` (which needs psutil) samples the CPU, memory
and threads of the server's processes; import it from ``longrun.loadgen.procstats``.
"""

from longrun.loadgen.clients import KINDS, Kind, RequestResult, make_session, post_json, post_sse, websocket
from longrun.loadgen.figures import Summary, percentile, summarize
from longrun.loadgen.runner import (
    CLIENTS,
    Burst,
    ClientCpu,
    LoadRun,
    PayloadFactory,
    Request,
    raise_nofile_limit,
    run_load,
    run_users,
)

__all__ = [
    "CLIENTS",
    "KINDS",
    "Burst",
    "ClientCpu",
    "Kind",
    "LoadRun",
    "PayloadFactory",
    "Request",
    "RequestResult",
    "Summary",
    "make_session",
    "percentile",
    "post_json",
    "post_sse",
    "raise_nofile_limit",
    "run_load",
    "run_users",
    "summarize",
    "websocket",
]
