"""A function middleware written before async views existed: sync-only (no async_capable)."""

import time


def timing_middleware(get_response):
    def middleware(request):
        started = time.monotonic()
        response = get_response(request)
        response["X-Elapsed-Ms"] = str(round((time.monotonic() - started) * 1000))
        return response

    return middleware
