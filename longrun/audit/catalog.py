"""Names the rules recognise: blocking network functions, HTTP and LLM client classes, ORM methods and their twins."""

from __future__ import annotations

_HTTP_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request")
HTTP_VERBS = frozenset(_HTTP_VERBS)
# requests' Session has no default timeout either.
REQUESTS_SESSIONS = frozenset({"requests.Session", "requests.sessions.Session"})

# Module-level functions that open a connection and wait on it in the calling thread.
BLOCKING_NETWORK_FUNCS = frozenset(
    {
        *(f"requests.{verb}" for verb in _HTTP_VERBS),
        *(f"httpx.{verb}" for verb in (*_HTTP_VERBS, "stream")),
        "urllib.request.urlopen",
        "urllib3.request",
        "socket.create_connection",
        "socket.getaddrinfo",
        "smtplib.SMTP",
        "smtplib.SMTP_SSL",
        "django.core.mail.send_mail",
        "django.core.mail.send_mass_mail",
        "django.core.mail.mail_admins",
        "django.core.mail.mail_managers",
    }
)

# Functions with no timeout unless given one: they can wait for ever on a server that stalls.
NO_DEFAULT_TIMEOUT_FUNCS = frozenset(
    {*(f"requests.{verb}" for verb in _HTTP_VERBS), "urllib.request.urlopen", "socket.create_connection"}
)
# Where a positional argument can carry the timeout: urlopen(url, data, timeout), create_connection(address, timeout).
TIMEOUT_POSITION = {"urllib.request.urlopen": 2, "socket.create_connection": 1}

# Clients whose methods block the calling thread on the network.
SYNC_CLIENT_CLASSES = frozenset(
    {
        "requests.Session",
        "requests.sessions.Session",
        "httpx.Client",
        "openai.OpenAI",
        "openai.AzureOpenAI",
        "anthropic.Anthropic",
        "anthropic.AnthropicBedrock",
        "anthropic.AnthropicVertex",
        "urllib3.PoolManager",
        "socket.socket",
        "smtplib.SMTP",
    }
)
ASYNC_CLIENT_CLASSES = frozenset(
    {
        "httpx.AsyncClient",
        "openai.AsyncOpenAI",
        "openai.AsyncAzureOpenAI",
        "anthropic.AsyncAnthropic",
        "aiohttp.ClientSession",
    }
)
# Clients that keep a connection pool: building one per request throws the pool (and TLS sessions) away.
POOLED_CLIENT_CLASSES = (SYNC_CLIENT_CLASSES | ASYNC_CLIENT_CLASSES) - {"socket.socket", "smtplib.SMTP"}
# LLM SDK clients whose default timeout is ten minutes.
LLM_CLIENT_CLASSES = frozenset(
    {
        "openai.OpenAI",
        "openai.AzureOpenAI",
        "openai.AsyncOpenAI",
        "openai.AsyncAzureOpenAI",
        "anthropic.Anthropic",
        "anthropic.AsyncAnthropic",
    }
)

# Methods of a client object that go over the network.
CLIENT_NETWORK_METHODS = frozenset(
    {
        *_HTTP_VERBS,
        "send",
        "stream",
        "create",
        "parse",
        "retrieve",
        "list",
        "connect",
        "recv",
        "recv_into",
        "sendall",
        "sendto",
        "recvfrom",
        "accept",
        "urlopen",
        "sendmail",
        "send_message",
        "count_tokens",
    }
)

# QuerySet methods that only build another QuerySet (no SQL yet).
QUERYSET_CHAIN = frozenset(
    {
        "all",
        "filter",
        "exclude",
        "order_by",
        "reverse",
        "distinct",
        "values",
        "values_list",
        "dates",
        "datetimes",
        "none",
        "union",
        "intersection",
        "difference",
        "select_related",
        "prefetch_related",
        "extra",
        "annotate",
        "alias",
        "defer",
        "only",
        "using",
        "select_for_update",
        "raw",
    }
)
# QuerySet methods that run SQL, each with its ``a``-prefixed twin.
QUERYSET_SQL = frozenset(
    {
        "get",
        "create",
        "get_or_create",
        "update_or_create",
        "bulk_create",
        "bulk_update",
        "count",
        "in_bulk",
        "iterator",
        "latest",
        "earliest",
        "first",
        "last",
        "aggregate",
        "exists",
        "contains",
        "update",
        "delete",
        "explain",
        # Related managers (`book.tags`, `author.books`) also have these, with the same twins.
        "add",
        "remove",
        "set",
        "clear",
    }
)
# Of those, the ones that hand back a model instance.
QUERYSET_INSTANCE = frozenset({"get", "first", "last", "latest", "earliest", "create"})
ASYNC_INSTANCE = frozenset({"a" + name for name in QUERYSET_INSTANCE})
# Model instance methods that run SQL, each with its ``a``-prefixed twin.
INSTANCE_SQL = frozenset({"save", "delete", "refresh_from_db"})
# Calls that read a whole iterable: on a QuerySet they run its SQL.
EVALUATING_BUILTINS = frozenset({"list", "tuple", "set", "len", "sorted", "sum", "any", "all", "dict", "frozenset"})

# Django functions that query the database (or the session), by qualified name, with their async twins.
SYNC_DB_FUNCTIONS = {
    "django.shortcuts.get_object_or_404": "aget_object_or_404",
    "django.shortcuts.get_list_or_404": "aget_list_or_404",
    "django.contrib.auth.authenticate": "aauthenticate",
    "django.contrib.auth.login": "alogin",
    "django.contrib.auth.logout": "alogout",
    "django.contrib.auth.get_user": "aget_user",
    "django.contrib.auth.update_session_auth_hash": "aupdate_session_auth_hash",
}

# Decorators that hand back what the function returned (once, then kept): a factory under them still builds its client.
CACHING_DECORATORS = frozenset({"functools.cache", "functools.lru_cache"})
SYNC_TO_ASYNC = frozenset({"asgiref.sync.sync_to_async", "channels.db.database_sync_to_async"})
ASYNC_TO_SYNC = "asgiref.sync.async_to_sync"
ATOMIC = "django.db.transaction.atomic"
STREAMING_RESPONSE = frozenset({"django.http.StreamingHttpResponse", "django.http.response.StreamingHttpResponse"})
FILE_METHODS = frozenset({"read_text", "write_text", "read_bytes", "write_bytes"})
