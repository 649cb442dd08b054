import time

from asgiref.sync import iscoroutinefunction
from django.utils.decorators import sync_and_async_middleware


@sync_and_async_middleware
def timing(get_response):
    """Adds X-Elapsed-Ms to every response, in the mode of the view behind it: no thread hop for async views."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            started = time.perf_counter()
            response = await get_response(request)
            response["X-Elapsed-Ms"] = f"{(time.perf_counter() - started) * 1000:.0f}"
            return response

    else:

        def middleware(request):
            started = time.perf_counter()
            response = get_response(request)
            response["X-Elapsed-Ms"] = f"{(time.perf_counter() - started) * 1000:.0f}"
            return response

    return middleware
