"""docs/deployment.md gives the recipes the tests run: its nginx config is the file the proxy test runs."""

from __future__ import annotations

import re

from tests.e2e.conftest import ROOT

GUIDE = (ROOT / "docs" / "deployment.md").read_text()


def test_the_guide_quotes_the_nginx_config_the_proxy_test_runs_as_it_is():
    quoted = re.search(r"```nginx\n(.*?)```", GUIDE, re.DOTALL)
    assert quoted is not None
    assert quoted.group(1) == (ROOT / "deploy" / "nginx" / "longrun.conf").read_text()


def test_every_test_and_benchmark_the_guide_names_exists():
    named = set(re.findall(r"\b((?:tests|benchmarks|llm_app|longrun|deploy)/[\w/.-]+\.(?:py|conf))", GUIDE))
    assert named, "the guide names no test"
    assert sorted(path for path in named if not (ROOT / path).exists()) == []
