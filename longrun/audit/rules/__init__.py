"""The rule families; importing this package registers every rule and check (``longrun.audit.model``).

LR1xx: async code (``async_code``); LR2xx: the request path (``request_path``); LR3xx: Channels (``channels``);
LR4xx: settings (``longrun.audit.settings_rules``, shared with the system checks). The thread hops longrun's
handler and consumer mixin remove have a module of their own (``hops``: LR206, LR305).
"""

from longrun.audit import settings_rules
from longrun.audit.rules import async_code, channels, hops, request_path

__all__ = ["async_code", "channels", "hops", "request_path", "settings_rules"]
