"""What recording announces about calls: started, finished, rejected. Listeners subscribe; recording names none.

The live dashboard subscribes in ``LlmAppConfig.ready()`` (``llm_app/dashboard/live.py``). A receiver runs on
the thread that records the call: a sync view's thread, a management command's, or the event loop itself for
the async views and the consumer. So a receiver must return at once: no I/O, no waiting on a lock another
thread may hold, nothing async (``Signal.send`` would have to start an event loop for it). Queue the work and do
it elsewhere, as the dashboard's tracker does.

All are sent with ``sender=CallRecord`` (the recording's record class).

``call_started``: the call's rows exist and the LLM is about to be asked. Arguments ``call_id`` (the ``LLMCall``
pk), ``path`` (a ``CallPath`` value), ``interface`` (an ``Interface`` value), ``model``.

``call_finished``: the call ended in any way (complete, error, cancelled), sent before its final write. Arguments
``call_id``, ``status`` (a ``Status`` value), ``ttft_ms`` (None when no token came), ``duration_ms``, ``tokens``,
``streamed`` (False for a whole reply, whose ``ttft_ms`` is the reply's time, not a first token's).

``call_rejected``: ``LLM_MAX_IN_FLIGHT`` turned a call away before anything reached the LLM; its one row (status
``rejected``) is written. Arguments ``call_id``, ``path``, ``interface``, ``waited_ms`` (its time in the queue).
No ``call_started`` or ``call_finished`` is sent for it.
"""

from __future__ import annotations

from django.dispatch import Signal

# use_caching: the receivers are looked up once per sender, not under the signal's lock at every send.
call_started = Signal(use_caching=True)
call_finished = Signal(use_caching=True)
call_rejected = Signal(use_caching=True)
