"""``manage.py serve``: the demo in one command: migrate, an admin login, the LLM simulator, then a server.

``--server`` picks any of ``llm_app.servers.SERVERS`` with its tuned command line (listen backlog, uvloop, granian's
backpressure: ``longrun/servers.py``), ``--workers N`` runs N processes on the one port (5 for the gunicorn worker
pools by default, 1 otherwise). Several processes share the database; give them ``REDIS_URL`` so that
WebSocket groups and the dashboard span them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from llm_app.servers import DEFAULT_WORKERS, SERVERS, server_command
from longrun.servers import raise_open_file_limit
from longrun.simulator import SimulatorConfig, SimulatorProcess


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class Command(BaseCommand):
    help = "Start the LLM simulator and a server (daphne by default) on http://127.0.0.1:8000/."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--server", choices=sorted(SERVERS), default="daphne")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--workers",
            type=int,
            help="processes on the one port (default: 5 for gunicorn and gthread, the worker pools; 1 otherwise)",
        )
        parser.add_argument("--no-simulator", action="store_true", help="use LLM_BASE_URL as it is")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)
        self._ensure_admin(f"http://{options['host']}:{options['port']}/admin/")
        simulator = None if options["no_simulator"] else self._start_simulator()
        argv, extra_env = server_command(
            options["server"], host=options["host"], port=options["port"], workers=options["workers"]
        )
        url = f"http://{options['host']}:{options['port']}/"
        workers = options["workers"] or DEFAULT_WORKERS.get(options["server"], 1)
        processes = f"{workers} processes" if workers > 1 else "1 process"
        self.stdout.write(
            f"Serving with {options['server']}, {processes} ({SERVERS[options['server']].summary}) on {url}"
        )
        # Each in-flight request holds two sockets: the server inherits the raised limit.
        raise_open_file_limit()
        server = subprocess.Popen(argv, env={**os.environ, **extra_env})
        # SIGTERM (a process manager, a test) must stop the children too: exit through the finally below.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            # A second SIGTERM or Ctrl-C (an impatient user, a supervisor that repeats itself) must not cut this
            # clean-up short and leave the children running without a parent.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            if server.poll() is None:
                server.terminate()
                server.wait(timeout=10)
            if simulator is not None:
                simulator.stop()

    def _ensure_admin(self, admin_url: str) -> None:
        """With DEBUG on, makes sure the admin can log in as the README says (admin / DJANGO_ADMIN_PASSWORD)."""
        if not settings.DEBUG:
            self.stdout.write("DEBUG is off: create an admin with `./run manage createsuperuser`.")
            return
        password = os.environ.get("DJANGO_ADMIN_PASSWORD", "admin")
        User = get_user_model()
        user, _ = User.objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"Admin: {admin_url} as admin / {password} (DJANGO_ADMIN_PASSWORD)")

    def _start_simulator(self) -> SimulatorProcess | None:
        url = urlsplit(settings.LLM_BASE_URL)
        host, port = url.hostname or "127.0.0.1", url.port or 80
        if host not in {"127.0.0.1", "localhost"}:
            self.stdout.write(f"Using the LLM at {settings.LLM_BASE_URL} (LLM_BASE_URL is not local).")
            return None
        if _port_open(host, port):
            self.stdout.write(f"Something already listens on {host}:{port}: using it as the LLM.")
            return None
        config = SimulatorConfig(
            host=host,
            port=port,
            ttft_ms=settings.LLM_SIMULATOR_TTFT_MS,
            token_ms=settings.LLM_SIMULATOR_TOKEN_MS,
            tokens=settings.LLM_SIMULATOR_TOKENS,
        )
        simulator = SimulatorProcess(config)
        try:
            simulator.start()
        except (RuntimeError, TimeoutError) as exc:
            raise CommandError(
                f"The LLM simulator did not start on {host}:{port} ({exc}); "
                "run `./run manage llm_simulator` to see why."
            ) from None
        self.stdout.write(f"LLM simulator on {settings.LLM_BASE_URL}")
        return simulator
