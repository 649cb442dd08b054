"""The dashboard page inside the admin; project/urls.py wraps it in ``admin.site.admin_view`` (staff only)."""

from __future__ import annotations

from typing import get_args

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from llm_app.dashboard import race, race_servers
from llm_app.dashboard.charts import history_charts
from llm_app.dashboard.figures import Range, history
from llm_app.dashboard.tracker import INTERFACES, PATHS, WINDOW_S
from llm_app.models import Interface


def dashboard(request: HttpRequest) -> HttpResponse:
    """The dashboard page (sync, like every admin view): the live frame, the race and the history charts."""
    ranges = []
    for range_ in get_args(Range):
        past = history(range_)
        ranges.append({"name": range_, "history": past, "charts": history_charts(past)})
    context = {
        **admin.site.each_context(request),
        "title": "LLM dashboard",
        "ranges": ranges,
        "paths": PATHS,
        "interfaces": [(name, Interface(name).label) for name in INTERFACES],
        "window_s": int(WINDOW_S),
        "model": settings.LLM_MODEL,
        "socket_path": "/ws/admin/dashboard/",
        "race_max_users": race.MAX_USERS,
        "race_default_users": race.DEFAULT_USERS,
        "race_tokens": race.TOKENS,
        "race_workers": race_servers.WORKERS,
        "race_keep_warm_s": int(race_servers.KEEP_WARM_S),
        "race_lanes": [(name, race.LANE_TITLES[name]) for name in race.LANE_PATHS],
    }
    return render(request, "admin/llm_app/dashboard.html", context)
