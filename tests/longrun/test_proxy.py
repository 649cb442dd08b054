"""longrun.proxy: a site config is run as written, with only its listen line and upstream servers replaced."""

from __future__ import annotations

import pytest

from longrun.proxy import render_site

SITE = """\
upstream app {
    least_conn;
    server 127.0.0.1:8001;
    server 127.0.0.1:8002;
    keepalive 32;
}
server {
    listen 80;
    location / { proxy_pass http://app; }
}
"""


def test_the_listen_line_and_the_upstream_servers_are_replaced_and_nothing_else():
    rendered = render_site(
        SITE, listen="127.0.0.1:5555", upstreams=["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"]
    )
    assert rendered == SITE.replace("listen 80;", "listen 127.0.0.1:5555;").replace(
        "    server 127.0.0.1:8001;\n    server 127.0.0.1:8002;\n",
        "    server 127.0.0.1:7001;\n    server 127.0.0.1:7002;\n    server 127.0.0.1:7003;\n",
    )


def test_a_config_without_a_listen_line_is_refused():
    with pytest.raises(ValueError, match="listen"):
        render_site(SITE.replace("    listen 80;\n", ""), listen="127.0.0.1:1", upstreams=["127.0.0.1:2"])


def test_a_config_without_an_upstream_block_is_refused():
    site = "server {\n    listen 80;\n    location / { proxy_pass http://127.0.0.1:8001; }\n}\n"
    with pytest.raises(ValueError, match="upstream"):
        render_site(site, listen="127.0.0.1:1", upstreams=["127.0.0.1:2"])
