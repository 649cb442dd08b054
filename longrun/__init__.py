"""Longrun: a toolkit for moving synchronous Django apps that call LLMs onto ASGI.

Add ``"longrun"`` to ``INSTALLED_APPS`` for its management commands (``asgi_audit``, ``llm_simulator``) and its
system checks (``manage.py check --tag async``, ``longrun.checks``). The parts, each usable on its own:

- ``longrun.audit``: reads a project's source and reports what blocks or breaks under ASGI (``longrun audit``).
- ``longrun.bridges``: the sync/async crossings a migration needs (sync generators streamed under ASGI, ORM work
  in one hop, async streams from sync code, Channels groups).
- ``longrun.middleware``, ``longrun.asgi`` (with ``longrun.daphne_hooks``), ``longrun.connections``,
  ``longrun.consumers``, ``longrun.hops``, ``longrun.testing``: Django's request path under ASGI without a thread
  hop where none is needed, and a way to count the hops that are left.
- ``longrun.detector``: blocking calls on the event loop fail loudly in tests and development (``[detector]``).
- ``longrun.simulator``: an OpenAI-compatible fake LLM for tests and load tests (``[simulator]``).
- ``longrun.loadgen`` and ``longrun.servers``: the load generator and the server command lines of a benchmark
  (``[loadgen]``).

Bracketed names are the extras that install a part's dependencies (``longrun.extras``). The package supports
Python 3.10+ and Django 4.2+, and never imports the demo project that ships beside it.
"""
