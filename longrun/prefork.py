"""N copies of a server command sharing one listening socket, for servers with no worker model (daphne).

    python -m longrun.prefork --bind 127.0.0.1:8000 --workers 2 -- python -m daphne --fd {fd} project.asgi:application

Binds the socket once (with the listen backlog asked for), then starts ``--workers`` copies of the command with
the socket inherited, ``{fd}`` replaced by its descriptor number. The kernel hands each new connection to one of
the processes waiting on the socket, so N single-process servers serve one port, each on its own core. With a
Redis channel layer and a shared database they are one site (WebSocket groups and the dashboard span them).

SIGTERM and SIGINT are passed on to every copy. When one copy exits, the others are stopped and the exit status
is the first copy's: a supervisor (systemd, a container runtime) restarts the whole set, which keeps this simple.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A TCP socket bound to host:port and listening, inheritable by child processes."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def _split_bind(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"--bind takes host:port, such as 127.0.0.1:8000; got {bind!r}.")
    return host.strip("[]"), int(port)


def run(command: list[str], *, host: str, port: int, workers: int, backlog: int) -> int:
    """Starts the copies and waits; returns the exit status of the first copy to exit."""
    if "{fd}" not in command:
        raise SystemExit("The command must take the socket as {fd}, such as: daphne --fd {fd} project.asgi:application")
    sock = listening_socket(host, port, backlog)
    argv = [part.replace("{fd}", str(sock.fileno())) for part in command]
    children = [subprocess.Popen(argv, pass_fds=(sock.fileno(),)) for _ in range(workers)]
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    try:
        while True:
            exited = [child for child in children if child.poll() is not None]
            if exited:
                status = exited[0].returncode
                break
            time.sleep(0.2)
    finally:
        if not stopping:
            stop(signal.SIGTERM, None)
        deadline = time.monotonic() + 10
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        sock.close()
    return 0 if stopping else status


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--" not in args:
        raise SystemExit(__doc__)
    split = args.index("--")
    parser = argparse.ArgumentParser(prog="python -m longrun.prefork", description=__doc__.splitlines()[0])
    parser.add_argument("--bind", required=True, help="host:port to listen on")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="copies of the command")
    parser.add_argument("--backlog", type=int, default=4096, help="the listen queue's length")
    options = parser.parse_args(args[:split])
    host, port = _split_bind(options.bind)
    if options.workers < 1:
        raise SystemExit("--workers must be 1 or more.")
    sys.exit(run(args[split + 1 :], host=host, port=port, workers=options.workers, backlog=options.backlog))


if __name__ == "__main__":
    main()
