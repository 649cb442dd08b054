"""nginx in front of server processes, for tests and benchmarks: a site config of yours, run as a plain process.

``running_nginx(site_conf, upstreams=[...])`` runs Debian's ``nginx`` binary with a prefix, a main config, logs and
temporary paths of its own in a temporary directory, in the foreground (no daemon, no master process, so it stays
the process it was started as, is never a system service, and stops with ``terminate()``), on a free port. The site
config is used as written except for two kinds of lines: its one ``listen`` line, and the ``server`` lines of its
one ``upstream`` block, which become the addresses given. So the config a deployment guide quotes is the config
the test ran.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from longrun.servers import free_port, stop_process, wait_until_listening

NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/bin/nginx")

_MAIN_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/site.conf;
}}
"""
_LISTEN = re.compile(r"^(\s*)listen\s+[^;]+;", re.MULTILINE)
_UPSTREAM = re.compile(r"(upstream\s+\w+\s*\{)(.*?)(\})", re.DOTALL)
_SERVER = re.compile(r"^\s*server\s+[^;]+;\n", re.MULTILINE)


def find_nginx() -> str:
    """The nginx binary's path; raises FileNotFoundError saying how to install it."""
    for candidate in (os.environ.get("LONGRUN_NGINX", ""), *NGINX_CANDIDATES, shutil.which("nginx") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("nginx is not installed: apt-get install nginx (./run test does it as root).")


def render_site(site: str, *, listen: str, upstreams: Sequence[str]) -> str:
    """``site`` with its listen line on ``listen`` and its upstream block's servers on ``upstreams``.

    Raises ValueError when the config does not have exactly one listen line and one upstream block with server
    lines: a config that changed shape must fail loudly, not run half-substituted.
    """
    if len(_LISTEN.findall(site)) != 1:
        raise ValueError("The site config needs exactly one `listen` line.")
    blocks = _UPSTREAM.findall(site)
    if len(blocks) != 1 or not _SERVER.findall(blocks[0][1]):
        raise ValueError("The site config needs exactly one `upstream` block, with `server` lines.")
    site = _LISTEN.sub(lambda m: f"{m.group(1)}listen {listen};", site)

    def servers(match: re.Match[str]) -> str:
        body = match.group(2)
        indent = re.search(r"^(\s*)server\s", body, re.MULTILINE)
        pad = indent.group(1) if indent else "    "
        first = _SERVER.search(body)
        assert first is not None
        lines = "".join(f"{pad}server {address};\n" for address in upstreams)
        body = body[: first.start()] + lines + _SERVER.sub("", body[first.start() :])
        return match.group(1) + body + match.group(3)

    return _UPSTREAM.sub(servers, site)


@contextmanager
def running_nginx(site_conf: Path, *, upstreams: Sequence[str], host: str = "127.0.0.1") -> Iterator[str]:
    """Runs nginx with ``site_conf`` in front of ``upstreams`` ("host:port" each); yields its base URL."""
    binary = find_nginx()
    port = free_port(host)
    with tempfile.TemporaryDirectory(prefix="longrun-nginx-") as directory:
        (Path(directory) / "site.conf").write_text(
            render_site(site_conf.read_text(), listen=f"{host}:{port}", upstreams=upstreams)
        )
        (Path(directory) / "nginx.conf").write_text(_MAIN_CONF.format(dir=directory))
        log = Path(directory) / "error.log"
        # -e: the error log before the config is read, or nginx first tries /var/log/nginx (root only).
        argv = [binary, "-p", directory, "-c", f"{directory}/nginx.conf", "-e", str(log)]
        checked = subprocess.run([*argv, "-t"], capture_output=True, text=True, check=False)
        if checked.returncode:
            raise RuntimeError(f"nginx refused the config: {checked.stderr.strip()}")
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            try:
                wait_until_listening(host, port, process)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc} nginx said:\n{log.read_text()[-3000:]}") from None
            yield f"http://{host}:{port}"
        finally:
            stop_process(process)
