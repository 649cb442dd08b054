"""The APIs the audit recognises, as data: one entry per function or class, each naming its async twin.

Adding an SDK is one entry here plus one fixture. Three kinds of entry:

- ``Function``: a module-level function (``requests.post``, ``ollama.chat``, ``openai.ChatCompletion.create``);
- ``Client``: a class (or factory) whose objects call the network: every method reached through attributes of the
  object blocks (``client.chat.completions.create``, ``client.beta.threads.runs.create``) except the local ones,
  its ``async_path`` (``client.aio...``) and ``async_suffix`` methods (``complete_async``); ``returns`` names the
  entry of what a method hands back (``start_chat`` -> a ChatSession);
- ``Family``: every class of a package family (LangChain, LangGraph, LlamaIndex): what its objects' methods do.

``llm`` marks the calls that wait on a model (or on a search or speech service): the ones a sync view should not
hold a worker for (LR201), and the long work of a consumer handler (LR301). Everything else in the table is plain
blocking network I/O: fine in sync code, a problem on the event loop (LR101).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request")


@dataclass(frozen=True, slots=True)
class Function:
    """A module-level function that blocks on the network (or on a process, a cache...)."""

    name: str
    twin: str  # what async code uses instead
    llm: bool = False
    no_default_timeout: bool = False  # waits for ever unless given timeout= (LR204)
    timeout_position: int | None = None  # a positional argument that can carry the timeout
    returns: str | None = None  # the Client entry of what it hands back


@dataclass(frozen=True, slots=True)
class Client:
    """A class (or the object a factory builds) whose methods call the network."""

    name: str
    twin: str
    sync: bool = True
    llm: bool = False
    pooled: bool = True  # keeps a connection pool: building one per request throws it away (LR203)
    default_timeout: str | None = None  # an LLM SDK's own default when timeout= is not given (LR205)
    local: frozenset[str] = frozenset()  # methods that do not call the network
    blocking: frozenset[str] | None = None  # when set, only these methods call the network
    async_path: str | None = None  # an attribute under which everything is async (client.aio)
    async_suffix: str | None = None  # methods with this suffix are async (chat.complete_async)
    returns: dict[str, str] = field(default_factory=dict)  # method -> Client entry of the result
    category: str = "network"  # "network", "cache" or "process": which rule reports it in async code
    method_twin: str = ""  # how to name a method's twin: "a" (prefix) or "_async" (suffix); "" uses `twin`
    # Calls that are quick round trips to the provider, not model work: resource paths (``moderations``,
    # ``beta.threads.messages``) and method names. They still block the event loop; they are not LLM waits.
    quick: frozenset[str] = frozenset()
    subscript: bool = False  # `client["name"]` is still the client (pymongo's databases and collections)


@dataclass(frozen=True, slots=True)
class Family:
    """Every class of a package family: which methods call a model and how their twins are named."""

    prefixes: tuple[str, ...]
    name: str
    blocking: frozenset[str]
    twin_prefix: str = "a"
    local_classes: re.Pattern[str] = re.compile(r"$^")  # classes of the family that never call the network
    pooled_classes: re.Pattern[str] = re.compile(r"$^")  # classes that build an SDK client when built
    factories: frozenset[str] = frozenset()  # calls of the family that build one of its objects
    # Document loaders: their `load` reads a file (file_loaders) or fetches over the network; no model involved.
    loaders: re.Pattern[str] = re.compile(r"$^")
    file_loaders: re.Pattern[str] = re.compile(r"$^")
    loader_methods: frozenset[str] = frozenset()


_OPENAI_LOCAL = frozenset({"with_options", "copy", "close", "with_raw_response", "with_streaming_response"})
_OLLAMA_LLM = frozenset({"chat", "generate", "embed", "embeddings"})
_QUICK = frozenset(
    {
        "moderations",
        "files",
        "models",
        "batches",
        "fine_tuning",
        "uploads",
        "beta.assistants",
        "beta.threads",
        "beta.threads.messages",
        "retrieve",
        "list",
        "delete",
        "update",
        "cancel",
        "count_tokens",
    }
)

FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in [
        *(
            Function(f"requests.{verb}", "`httpx.AsyncClient` (or aiohttp), awaited", no_default_timeout=True)
            for verb in _VERBS
        ),
        *(Function(f"httpx.{verb}", "`httpx.AsyncClient`, awaited") for verb in (*_VERBS, "stream")),
        Function("urllib.request.urlopen", "`httpx.AsyncClient`, awaited", no_default_timeout=True, timeout_position=2),
        Function("urllib3.request", "`httpx.AsyncClient`, awaited"),
        Function("socket.create_connection", "`asyncio.open_connection`", no_default_timeout=True, timeout_position=1),
        Function("socket.getaddrinfo", "`loop.getaddrinfo`"),
        *(
            Function(f"django.core.mail.{name}", "a task queue, or `await sync_to_async(send_mail)(...)`")
            for name in ("send_mail", "send_mass_mail", "mail_admins", "mail_managers")
        ),
        # openai < 1.0: the module-level resources; each method has an `a`-prefixed twin on the same class.
        *(
            Function(f"openai.{resource}.{method}", f"`await openai.{resource}.a{method}(...)`", llm=True)
            for resource in ("ChatCompletion", "Completion", "Embedding", "Edit", "Image", "Moderation")
            for method in ("create",)
        ),
        *(
            Function(f"openai.Audio.{method}", f"`await openai.Audio.a{method}(...)`", llm=True)
            for method in ("transcribe", "translate")
        ),
        # ollama's module functions use a shared sync client.
        *(
            Function(f"ollama.{name}", f"`await ollama.AsyncClient().{name}(...)`", llm=name in _OLLAMA_LLM)
            for name in ("chat", "generate", "embed", "embeddings", "pull", "push", "list", "show", "create", "ps")
        ),
        *(
            Function(f"google.generativeai.{name}", f"`await genai.{name}_async(...)`", llm=True)
            for name in ("embed_content", "generate_text", "generate_embeddings", "chat", "count_message_tokens")
        ),
        *(
            Function(f"google.generativeai.{name}", "`await asyncio.to_thread(...)`", llm=False)
            for name in ("upload_file", "get_file", "delete_file", "list_files", "list_models", "get_model")
        ),
        Function("serpapi.search", "`await asyncio.to_thread(serpapi.search, ...)`", llm=True),
        Function("time.sleep", "`await asyncio.sleep(...)`"),
        *(
            Function(f"subprocess.{name}", "`await asyncio.create_subprocess_exec(...)`")
            for name in ("run", "call", "check_call", "check_output", "getoutput", "getstatusoutput")
        ),
        Function("os.system", "`await asyncio.create_subprocess_shell(...)`"),
        Function("os.popen", "`await asyncio.create_subprocess_shell(...)`"),
        # Factories whose result is an entry of CLIENTS (boto3 by service name: see `boto3_client`).
        Function("boto3.client", "aioboto3, or `await asyncio.to_thread(client.method, ...)`", returns="boto3.Client"),
        Function("boto3.Session", "aioboto3", returns="boto3.Session"),
        Function("boto3.session.Session", "aioboto3", returns="boto3.Session"),
        Function("boto3.resource", "aioboto3, or `await asyncio.to_thread(...)`", returns="boto3.Resource"),
        # pinecone-client 2.x: module functions over a shared configuration.
        *(
            Function(f"pinecone.{name}", "`await asyncio.to_thread(...)`")
            for name in ("list_indexes", "describe_index", "create_index", "delete_index", "configure_index")
        ),
    ]
}

CLIENTS: dict[str, Client] = {
    c.name: c
    for c in [
        Client("requests.Session", "`httpx.AsyncClient`", blocking=frozenset(_VERBS) | {"send"}),
        Client("requests.sessions.Session", "`httpx.AsyncClient`", blocking=frozenset(_VERBS) | {"send"}),
        Client("httpx.Client", "`httpx.AsyncClient`", local=frozenset({"build_request", "close"})),
        Client("httpx.AsyncClient", "", sync=False),
        Client("aiohttp.ClientSession", "", sync=False),
        Client("urllib3.PoolManager", "`httpx.AsyncClient`", blocking=frozenset({"request", "urlopen"})),
        Client("socket.socket", "`asyncio.open_connection`", pooled=False),
        Client("smtplib.SMTP", "aiosmtplib", pooled=False),
        Client("smtplib.SMTP_SSL", "aiosmtplib", pooled=False),
        Client("django.core.mail.EmailMessage", "a task queue", pooled=False, blocking=frozenset({"send"})),
        Client("django.core.mail.EmailMultiAlternatives", "a task queue", pooled=False, blocking=frozenset({"send"})),
        # LLM SDKs (openai >= 1 and the SDKs built like it).
        *(
            Client(name, f"`{twin}`", llm=True, default_timeout="10 minutes", local=_OPENAI_LOCAL, quick=_QUICK)
            for name, twin in (
                ("openai.OpenAI", "openai.AsyncOpenAI"),
                ("openai.AzureOpenAI", "openai.AsyncAzureOpenAI"),
                ("anthropic.Anthropic", "anthropic.AsyncAnthropic"),
                ("anthropic.AnthropicBedrock", "anthropic.AsyncAnthropicBedrock"),
                ("anthropic.AnthropicVertex", "anthropic.AsyncAnthropicVertex"),
            )
        ),
        *(
            Client(name, "", sync=False, llm=True, default_timeout="10 minutes", local=_OPENAI_LOCAL)
            for name in (
                "openai.AsyncOpenAI",
                "openai.AsyncAzureOpenAI",
                "anthropic.AsyncAnthropic",
                "anthropic.AsyncAnthropicBedrock",
                "anthropic.AsyncAnthropicVertex",
            )
        ),
        Client("groq.Groq", "`groq.AsyncGroq`", llm=True, local=_OPENAI_LOCAL, quick=_QUICK),
        Client("groq.AsyncGroq", "", sync=False, llm=True),
        Client(
            "mistralai.Mistral",
            "the `_async` methods (`await client.chat.complete_async(...)`)",
            llm=True,
            async_suffix="_async",
            method_twin="_async",
        ),
        Client("mistralai.client.MistralClient", "`mistralai.async_client.MistralAsyncClient`", llm=True),
        Client("mistralai.async_client.MistralAsyncClient", "", sync=False, llm=True),
        Client("cohere.Client", "`cohere.AsyncClient`", llm=True),
        Client("cohere.ClientV2", "`cohere.AsyncClientV2`", llm=True),
        Client("cohere.AsyncClient", "", sync=False, llm=True),
        Client("cohere.AsyncClientV2", "", sync=False, llm=True),
        Client("huggingface_hub.InferenceClient", "`huggingface_hub.AsyncInferenceClient`", llm=True),
        Client("huggingface_hub.AsyncInferenceClient", "", sync=False, llm=True),
        Client("ollama.Client", "`ollama.AsyncClient`", llm=True),
        Client("ollama.AsyncClient", "", sync=False, llm=True),
        Client(
            "google.genai.Client",
            "`client.aio` (`await client.aio.models.generate_content(...)`)",
            llm=True,
            async_path="aio",
        ),
        # google-generativeai: the model object shares a module-level client (not one per object).
        Client(
            "google.generativeai.GenerativeModel",
            "the `_async` methods (`await model.generate_content_async(...)`)",
            llm=True,
            pooled=False,
            local=frozenset({"start_chat"}),
            async_suffix="_async",
            method_twin="_async",
            returns={"start_chat": "google.generativeai.ChatSession"},
        ),
        Client(
            "google.generativeai.ChatSession",
            "`await chat.send_message_async(...)`",
            llm=True,
            pooled=False,
            blocking=frozenset({"send_message"}),
            async_suffix="_async",
            method_twin="_async",
        ),
        Client("elevenlabs.ElevenLabs", "`elevenlabs.AsyncElevenLabs`", llm=True),
        Client("elevenlabs.client.ElevenLabs", "`elevenlabs.AsyncElevenLabs`", llm=True),
        Client(
            "serpapi.GoogleSearch",
            "`await asyncio.to_thread(search.get_dict)`",
            llm=True,
            pooled=False,
            blocking=frozenset({"get_dict", "get_json", "get_results", "get_html", "get_raw_json"}),
        ),
        Client(
            "serpapi.Client", "`await asyncio.to_thread(client.search, ...)`", llm=True, blocking=frozenset({"search"})
        ),
        # boto3: any client blocks; Bedrock's runtime clients call models. (A storage or queue client built per
        # request costs its setup, not a model's wait: LR203 is about the LLM and HTTP clients.)
        Client(
            "boto3.Client",
            "aioboto3, or `await asyncio.to_thread(...)`",
            pooled=False,
            local=frozenset({"get_paginator", "get_waiter", "can_paginate", "generate_presigned_url"}),
        ),
        Client("boto3.bedrock-runtime", "aioboto3, or `await asyncio.to_thread(client.converse, ...)`", llm=True),
        Client(
            "boto3.Session",
            "aioboto3",
            pooled=False,
            local=frozenset({"client", "resource"}),
            returns={"client": "boto3.Client"},
        ),
        # Django's cache API: each call is a round trip to the cache server in async code.
        Client(
            "django.core.cache.cache",
            "the `a`-prefixed twins (`await cache.aget(...)`)",
            pooled=False,
            category="cache",
            method_twin="a",
            blocking=frozenset(
                {
                    "get",
                    "set",
                    "add",
                    "delete",
                    "get_or_set",
                    "get_many",
                    "set_many",
                    "delete_many",
                    "incr",
                    "decr",
                    "touch",
                    "has_key",
                    "clear",
                }
            ),
        ),
        Client(
            "subprocess.Popen",
            "`asyncio.create_subprocess_exec`",
            pooled=False,
            category="process",
            blocking=frozenset({"communicate", "wait"}),
        ),
        Client(
            "boto3.Resource",
            "aioboto3, or `await asyncio.to_thread(...)`",
            pooled=False,
            local=frozenset({"filter", "all", "limit", "page_size", "meta"}),
            returns={name: "boto3.Resource" for name in ("Bucket", "Object", "Table", "Queue", "Topic", "Instance")},
        ),
        # Vector databases: a query is a short round trip (the embedding before it is the model call).
        Client(
            "pinecone.Pinecone",
            "`pinecone.PineconeAsyncio`, or `await asyncio.to_thread(...)`",
            returns={"Index": "pinecone.Index"},
        ),
        Client(
            "pinecone.grpc.PineconeGRPC",
            "`await asyncio.to_thread(...)`",
            returns={"Index": "pinecone.Index"},
        ),
        Client(
            "pinecone.Index",
            "`pc.IndexAsyncio(...)` (pinecone 6+), or `await asyncio.to_thread(index.query, ...)`",
            local=frozenset({"close"}),
        ),
        Client("qdrant_client.QdrantClient", "`qdrant_client.AsyncQdrantClient`", local=frozenset({"close"})),
        Client("qdrant_client.AsyncQdrantClient", "", sync=False),
        Client(
            "chromadb.HttpClient",
            "`await chromadb.AsyncHttpClient(...)`",
            returns={
                name: "chromadb.Collection"
                for name in ("get_collection", "get_or_create_collection", "create_collection")
            },
        ),
        Client("chromadb.Collection", "`chromadb.AsyncHttpClient`'s collections, awaited", pooled=False),
        # MongoDB: the client, its databases and collections (`client["db"]["jobs"]`, `db.jobs`) all block.
        Client(
            "pymongo.MongoClient",
            "`pymongo.AsyncMongoClient` (PyMongo 4.9+) or motor's `AsyncIOMotorClient`",
            local=frozenset({"get_database", "get_collection", "get_default_database", "with_options"}),
            subscript=True,
        ),
        # What LLM SDK calls hand back: a sync stream blocks on every item it yields.
        Client(
            "llm.Stream",
            "the async client's stream, iterated with `async for`",
            llm=True,
            pooled=False,
            blocking=frozenset(),
        ),
    ]
}

# Bedrock's runtime services: boto3.client("bedrock-runtime") calls models.
BEDROCK_SERVICES = frozenset({"bedrock-runtime", "bedrock-agent-runtime"})

FAMILIES: tuple[Family, ...] = (
    Family(
        prefixes=("langchain", "langchain_core", "langchain_community", "langgraph", "langserve"),
        name="LangChain",
        blocking=frozenset(
            {
                "invoke",
                "stream",
                "batch",
                "predict",
                "predict_messages",
                "run",
                "__call__",
                "generate",
                "get_relevant_documents",
                "similarity_search",
                "similarity_search_with_score",
                "similarity_search_with_relevance_scores",
                "similarity_search_by_vector",
                "max_marginal_relevance_search",
                "add_texts",
                "add_documents",
                "delete",
                "embed_query",
                "embed_documents",
                "from_texts",
                "from_documents",
                "get_state",
                "update_state",
            }
        ),
        local_classes=re.compile(
            r"(PromptTemplate|Prompt|Parser|OutputParser|Splitter|TextSplitter|Document|Message|MessageChunk"
            r"|Placeholder|PromptValue|Passthrough|RunnableLambda|Tool|StructuredTool)$"
        ),
        # Chat models, embeddings and LLM endpoints (a chat message history or a memory is built per conversation).
        pooled_classes=re.compile(
            r"^(?!\w*(History|Memory|Template|Message)$)"
            r"(Chat\w+|\w+Embeddings|OpenAI|AzureOpenAI|Ollama|Anthropic|Cohere|\w+Endpoint)$"
        ),
        factories=frozenset({"create_react_agent", "create_agent", "from_chain_type", "from_llm", "compile"}),
        loaders=re.compile(r"Loader$"),
        file_loaders=re.compile(
            r"^(TextLoader|CSVLoader|JSONLoader|BSHTMLLoader|Docx2txtLoader|DirectoryLoader|PyPDFLoader|PyMuPDFLoader"
            r"|PDFMinerLoader|PDFPlumberLoader|PyPDFDirectoryLoader|UnstructuredFileLoader|UnstructuredPDFLoader"
            r"|UnstructuredMarkdownLoader|UnstructuredWordDocumentLoader|UnstructuredExcelLoader"
            r"|UnstructuredPowerPointLoader|UnstructuredHTMLLoader|UnstructuredEmailLoader|NotebookLoader)$"
        ),
        loader_methods=frozenset({"load", "lazy_load", "load_and_split"}),
    ),
    Family(
        prefixes=("llama_index", "llama_index_core"),
        name="LlamaIndex",
        blocking=frozenset(
            {
                "query",
                "chat",
                "stream_chat",
                "complete",
                "stream_complete",
                "retrieve",
                "predict",
                "insert",
                "refresh",
                "from_documents",
                "get_text_embedding",
                "get_query_embedding",
            }
        ),
        local_classes=re.compile(r"(Document|Node|Settings|PromptTemplate|Prompt|Parser|Splitter|StorageContext)$"),
        pooled_classes=re.compile(r"^(OpenAI|\w+Embedding|Ollama|Anthropic)$"),
        factories=frozenset(
            {
                "load_index_from_storage",
                "as_query_engine",
                "as_chat_engine",
                "as_retriever",
                "from_documents",
                "from_vector_store",
            }
        ),
    ),
)

# Plain HTTP to an LLM server: the URL or the JSON payload gives it away.
LLM_URL = re.compile(
    r"/v1/(chat/completions|completions|embeddings|messages|responses)\b|/api/(generate|chat|embed|embeddings)\b"
    r"|generativelanguage\.googleapis\.com|api\.openai\.com|api\.anthropic\.com|api\.groq\.com|api\.mistral\.ai"
    r"|api\.cohere\.(ai|com)|api-inference\.huggingface\.co|router\.huggingface\.co|openrouter\.ai"
    r"|api\.together\.(xyz|ai)|api\.deepseek\.com|:11434\b|bedrock-runtime\.|/completion\b|/generate\b",
    re.IGNORECASE,
)
LLM_PAYLOAD_KEYS = frozenset({"messages", "prompt"})

# Functions that run a callable in a worker thread: the callable's blocking work is not on the event loop.
SYNC_TO_ASYNC = frozenset({"asgiref.sync.sync_to_async", "channels.db.database_sync_to_async"})
TO_THREAD = frozenset({"asyncio.to_thread", "starlette.concurrency.run_in_threadpool"})
ASYNC_TO_SYNC = "asgiref.sync.async_to_sync"
CACHING_DECORATORS = frozenset({"functools.cache", "functools.lru_cache", "functools.cached_property"})
ATOMIC = "django.db.transaction.atomic"
STREAMING_RESPONSE = frozenset({"django.http.StreamingHttpResponse", "django.http.response.StreamingHttpResponse"})
DJANGO_CACHES = frozenset({"django.core.cache.cache", "django.core.cache.caches"})
FILE_METHODS = frozenset({"read_text", "write_text", "read_bytes", "write_bytes"})

# Django's manager and QuerySet classes: a project class built on one is a custom manager.
MANAGER_BASES = frozenset(
    {
        "django.db.models.Manager",
        "django.db.models.QuerySet",
        "django.db.models.manager.Manager",
        "django.db.models.manager.BaseManager",
        "django.db.models.query.QuerySet",
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
        "get_queryset",
    }
)
# QuerySet (and related manager) methods that run SQL; each has an `a`-prefixed twin.
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
        "add",
        "remove",
        "set",
        "clear",
    }
)
QUERYSET_INSTANCE = frozenset({"get", "first", "last", "latest", "earliest", "create"})
ASYNC_INSTANCE = frozenset({"a" + name for name in QUERYSET_INSTANCE})
INSTANCE_SQL = frozenset({"save", "delete", "refresh_from_db"})
# Calls that read a whole iterable: on a QuerySet they run its SQL.
EVALUATING_BUILTINS = frozenset(
    {"list", "tuple", "set", "len", "sorted", "sum", "any", "all", "dict", "frozenset", "bool", "max", "min"}
)

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


def boto3_client(service: object) -> str:
    """The CLIENTS entry of ``boto3.client(service)``: Bedrock's runtimes call models, any other service does not."""
    return "boto3.bedrock-runtime" if service in BEDROCK_SERVICES else "boto3.Client"


def family_of(qualname: str) -> Family | None:
    """The family a qualified class or function name belongs to (``langchain_openai.ChatOpenAI`` -> LangChain)."""
    head = qualname.split(".", 1)[0]
    for family in FAMILIES:
        if any(head == prefix or head.startswith(prefix + "_") for prefix in family.prefixes):
            return family
    return None
