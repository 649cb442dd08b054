"""An async view ported in a hurry: it still sleeps and calls the network the sync way."""

import time

import requests
from django.http import JsonResponse


async def forecast(request):
    time.sleep(0.5)  # LR102: let the upstream cache warm up
    reply = requests.get("https://weather.example.com/today")  # LR101 LR204
    return JsonResponse(reply.json())
