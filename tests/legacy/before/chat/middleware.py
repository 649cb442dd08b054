import time


def timing(get_response):
    """Adds X-Elapsed-Ms to every response. Sync only: no async_capable, no decorator."""

    def middleware(request):
        started = time.perf_counter()
        response = get_response(request)
        response["X-Elapsed-Ms"] = f"{(time.perf_counter() - started) * 1000:.0f}"
        return response

    return middleware
