"""The soak run (``manage.py soak``) and the disconnect storm: many clients with churn against a real server, sampled.

``probe`` is the server's side (the project's ASGI application plus an event-loop sampler), ``figures`` reads
the server process from outside, ``churn`` is the clients, ``report`` writes the CSV and the chart.
"""
