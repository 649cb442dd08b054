"""The fault table: each upstream or database fault, on each path, and what the user, the rows and the LLM see.

``tests/reliability/test_faults.py`` runs every row through real servers; ``docs/reliability.md`` holds the same
table, rendered by ``python -m tests.reliability.fault_table`` (a test checks that the two agree).

The servers run with ``LLM_MAX_RETRIES=1`` and ``LLM_TIMEOUT=1.5``, so the SDK's retries show in the upstream
counts and a stall ends quickly. Faults are asked for with a ``[fault:NAME]`` marker in the prompt (the
simulator reads it from the last message), so one server serves every fault.
"""

from __future__ import annotations

from dataclasses import dataclass

LLM_TIMEOUT = 1.5
LLM_MAX_RETRIES = 1


@dataclass(frozen=True)
class Path:
    name: str
    url: str  # the endpoint, or the socket's route
    kind: str  # "json", "sse" or "ws"
    servers: tuple[str, ...]


PATHS = (
    Path("sync complete", "/api/sync/complete", "json", ("daphne", "gunicorn")),
    Path("async complete", "/api/async/complete", "json", ("daphne",)),
    Path("sync stream", "/api/sync/stream", "sse", ("daphne", "gunicorn")),
    Path("async stream", "/api/async/stream", "sse", ("daphne",)),
    Path("WebSocket", "/ws/chat/", "ws", ("daphne",)),
)


@dataclass(frozen=True)
class Fault:
    name: str
    marker: str  # put in the prompt; empty for faults that are not the simulator's
    what: str


FAULTS = (
    Fault("500", "[fault:500]", "the LLM answers HTTP 500"),
    Fault("429", "[fault:429]", "the LLM answers HTTP 429 with `Retry-After: 1`"),
    Fault("stall", "[fault:stall]", "the first token, then silence (the connection stays open)"),
    Fault("cut", "[fault:cut]", "half the tokens, then the connection closes"),
    Fault("malformed", "[fault:malformed]", "half the tokens, then a chunk that is not JSON"),
    Fault("down", "", "nothing listens at `LLM_BASE_URL`"),
    Fault("db-locked", "", "the database refuses writes for 1.5 s in the middle of the call"),
)


@dataclass(frozen=True)
class Expect:
    """What one fault does on one kind of path."""

    status: int | None  # the HTTP status of the reply (200 for a stream, whatever follows); None for a socket
    end: str  # "reply" (a JSON body), "done" or "error" (event or message)
    tokens: str  # tokens the client got before the end: "none", "some" or "all"
    row: str  # the status of the Message and of the LLMCall
    says: str  # a phrase of the error message (and of LLMCall.error)
    upstream: int | None  # requests the simulator counted; None when it is down

    def client(self, kind: str) -> str:
        before = {"none": "", "some": "some tokens, then ", "all": "every token, then "}[self.tokens]
        if kind == "json":
            return f"HTTP {self.status} JSON" + (f" error ({self.says})" if self.end == "error" else " reply")
        event = "an `error` event" if kind == "sse" else "an `error` message"
        if self.end == "done":
            event = "`done` (`complete`)"
        return before + event + (f" ({self.says})" if self.end == "error" else "")


def _expect(
    status: int, end: str, tokens: str, row: str, says: str, upstream: int | None, *, retried: bool = True
) -> dict[str, Expect]:
    """The same fault on the three kinds of path: JSON gets ``status``, a stream 200 then the event, a socket none."""
    stream = "done" if end == "reply" else end
    stream_tokens = "all" if end == "reply" else tokens
    return {
        "json": Expect(
            status, end, "all" if end == "reply" else "none", row, says, upstream_json(upstream, tokens, retried)
        ),
        "sse": Expect(200, stream, stream_tokens, row, says, upstream),
        "ws": Expect(None, stream, stream_tokens, row, says, upstream),
    }


def upstream_json(upstream: int | None, tokens: str, retried: bool) -> int | None:
    # A non-streamed call that times out or loses its connection is retried by the SDK; a stream fails mid-way,
    # after the SDK has handed the response over, so it is not; a broken body is never retried.
    if upstream is not None and tokens == "some" and retried:
        return 1 + LLM_MAX_RETRIES
    return upstream


EXPECTED: dict[str, dict[str, Expect]] = {
    "500": _expect(502, "error", "none", "error", "HTTP 500", 1 + LLM_MAX_RETRIES),
    "429": _expect(503, "error", "none", "error", "retry after 1 s", 1 + LLM_MAX_RETRIES),
    "stall": _expect(504, "error", "some", "error", "LLM_TIMEOUT", 1),
    "cut": _expect(502, "error", "some", "error", "closed the connection before the reply ended", 1),
    "malformed": _expect(502, "error", "some", "error", "broken reply", 1, retried=False),
    "down": _expect(502, "error", "none", "error", "is it running", None),
    "db-locked": _expect(200, "reply", "all", "complete", "", 1),
}


@dataclass(frozen=True)
class Case:
    fault: Fault
    path: Path
    server: str

    @property
    def id(self) -> str:
        return f"{self.fault.name}-{self.path.name.replace(' ', '-')}-{self.server}"

    @property
    def expect(self) -> Expect:
        return EXPECTED[self.fault.name][self.path.kind]


CASES = tuple(Case(fault, path, server) for fault in FAULTS for path in PATHS for server in path.servers)


def markdown() -> str:
    """The table of docs/reliability.md: one line per fault and path, the servers it was run on."""
    lines = [
        "| Fault | Path | Servers | The client gets | Message and LLMCall | Upstream requests |",
        "|---|---|---|---|---|---|",
    ]
    for fault in FAULTS:
        for path in PATHS:
            expect = EXPECTED[fault.name][path.kind]
            text = {"none": "no text", "some": "the partial text", "all": "the whole text"}[
                "none" if expect.tokens == "none" else expect.tokens
            ]
            if expect.row == "error":
                rows = f"`error`, {text}, the message in `LLMCall.error`"
            else:
                rows = f"`{expect.row}`, {text}"
            upstream = "(none)" if expect.upstream is None else str(expect.upstream)
            lines.append(
                f"| {fault.name}: {fault.what} | {path.name} | {', '.join(path.servers)} | {expect.client(path.kind)} "
                f"| {rows} | {upstream} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
