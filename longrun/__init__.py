"""Longrun: a toolkit for moving synchronous Django apps that call LLMs onto ASGI.

Add ``"longrun"`` to ``INSTALLED_APPS`` for its management commands (``llm_simulator``). The modules are
usable on their own: ``longrun.bridges`` (sync/async helpers), ``longrun.simulator`` (an OpenAI-compatible
fake LLM for tests and load tests). This package never imports the demo project that ships beside it.
"""
