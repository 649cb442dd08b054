"""Admin lists for conversations, messages and LLM calls, linked to each other and to the LLM dashboard."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from llm_app.models import Conversation, LLMCall, Message

# The three lists and the admin index carry a link to the dashboard (llm_app/dashboard, /admin/dashboard/).
CHANGE_LIST_TEMPLATE = "admin/llm_app/dashboard_change_list.html"
admin.site.index_template = "admin/llm_app/dashboard_index.html"


def _link(name: str, obj_id: int | None, label: str) -> str:
    if obj_id is None:
        return "-"
    return format_html('<a href="{}">{}</a>', reverse(f"admin:llm_app_{name}_change", args=[obj_id]), label)


def _list_link(name: str, conversation_id: int, label: str) -> str:
    """A link to the ``name`` list filtered to one conversation."""
    url = reverse(f"admin:llm_app_{name}_changelist")
    return format_html('<a href="{}?conversation__id__exact={}">{}</a>', url, conversation_id, label)


class MessageInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Message
    fields = ("role", "status", "content", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "title", "created_at", "message_count", "messages_link", "calls_link")
    list_filter = ("created_at", "calls__path", "calls__status", "calls__model")
    search_fields = ("title", "messages__content")
    change_list_template = CHANGE_LIST_TEMPLATE
    date_hierarchy = "created_at"
    inlines = [MessageInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        from django.db.models import Count

        return super().get_queryset(request).annotate(_messages=Count("messages"))  # type: ignore[no-any-return]

    @admin.display(description="Messages", ordering="_messages")
    def message_count(self, obj: Conversation) -> int:
        return obj._messages  # type: ignore[attr-defined, no-any-return]

    @admin.display(description="Message list")
    def messages_link(self, obj: Conversation) -> str:
        return _list_link("message", obj.pk, "messages")

    @admin.display(description="Calls")
    def calls_link(self, obj: Conversation) -> str:
        return _list_link("llmcall", obj.pk, "LLM calls")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "conversation_link", "role", "status", "short_content", "created_at", "call_link")
    list_filter = ("role", "status", "created_at", "call__path", "call__model")
    search_fields = ("content",)
    list_select_related = ("conversation", "call")
    change_list_template = CHANGE_LIST_TEMPLATE
    raw_id_fields = ("conversation",)

    @admin.display(description="Conversation", ordering="conversation")
    def conversation_link(self, obj: Message) -> str:
        return _link("conversation", obj.conversation_id, str(obj.conversation))

    @admin.display(description="LLM call")
    def call_link(self, obj: Message) -> str:
        call = getattr(obj, "call", None)  # only assistant messages have one
        return _link("llmcall", call.pk if call is not None else None, f"#{call.pk}" if call is not None else "")

    @admin.display(description="Content")
    def short_content(self, obj: Message) -> str:
        return obj.content[:80] + ("..." if len(obj.content) > 80 else "")


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    # Seven narrow columns, readable at 1280 px beside the admin's sidebar and the filters; the model, the
    # interface, the message and the error are on the change page (and the model and interface are filters).
    list_display = ("id", "started", "path", "status", "tokens", "timing", "conversation_link")
    list_display_links = ("id", "started")
    list_filter = ("path", "interface", "status", "model", "started_at")
    search_fields = ("model", "error", "message__content")
    date_hierarchy = "started_at"
    list_select_related = ("conversation", "message")
    change_list_template = CHANGE_LIST_TEMPLATE
    # A call is a record of what happened: shown, never edited.
    fieldsets = (
        (None, {"fields": ("path", "interface", "model", "status", "error")}),
        ("Timing", {"fields": ("started_at", "streamed", "ttft_ms", "duration_ms", "tokens")}),
        ("Conversation", {"fields": ("conversation_link", "message_link", "answer")}),
    )
    readonly_fields = (
        "path",
        "interface",
        "model",
        "status",
        "error",
        "started_at",
        "streamed",
        "ttft_ms",
        "duration_ms",
        "tokens",
        "conversation_link",
        "message_link",
        "answer",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Started", ordering="started_at")
    def started(self, obj: LLMCall) -> str:
        """Today's calls by their time alone, older ones by day and minute: a narrow column."""
        started = timezone.localtime(obj.started_at)
        return started.strftime("%H:%M:%S" if started.date() == timezone.localdate() else "%b %d %H:%M")

    @admin.display(description="Time (first token)", ordering="duration_ms")
    def timing(self, obj: LLMCall) -> str:
        """The call's time, and its first token's for a stream; a whole reply has none (its TTFT is the reply)."""
        if obj.duration_ms is None:
            return "-"
        total = f"{obj.duration_ms / 1000:.2f} s"
        if obj.streamed and obj.ttft_ms is not None:
            return f"{total} ({obj.ttft_ms / 1000:.2f} s)"
        return f"{total} (whole reply)" if obj.streamed is False else total

    @admin.display(description="Conversation", ordering="conversation")
    def conversation_link(self, obj: LLMCall) -> str:
        return _link("conversation", obj.conversation_id, f"#{obj.conversation_id}")

    @admin.display(description="Message", ordering="message")
    def message_link(self, obj: LLMCall) -> str:
        return _link("message", obj.message_id, f"#{obj.message_id}")

    @admin.display(description="Answer")
    def answer(self, obj: LLMCall) -> str:
        return obj.message.content if obj.message is not None else ""
