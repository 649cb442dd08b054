"""Admin lists for conversations, messages and LLM calls, linked to each other."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from llm_app.models import Conversation, LLMCall, Message


def _link(name: str, obj_id: int | None, label: str) -> str:
    if obj_id is None:
        return "-"
    return format_html('<a href="{}">{}</a>', reverse(f"admin:llm_app_{name}_change", args=[obj_id]), label)


class MessageInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Message
    fields = ("role", "status", "content", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "title", "created_at", "message_count")
    search_fields = ("title", "messages__content")
    date_hierarchy = "created_at"
    inlines = [MessageInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        from django.db.models import Count

        return super().get_queryset(request).annotate(_messages=Count("messages"))  # type: ignore[no-any-return]

    @admin.display(description="Messages", ordering="_messages")
    def message_count(self, obj: Conversation) -> int:
        return obj._messages  # type: ignore[attr-defined, no-any-return]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "conversation_link", "role", "status", "short_content", "created_at")
    list_filter = ("role", "status", "created_at")
    search_fields = ("content",)
    list_select_related = ("conversation",)
    raw_id_fields = ("conversation",)

    @admin.display(description="Conversation", ordering="conversation")
    def conversation_link(self, obj: Message) -> str:
        return _link("conversation", obj.conversation_id, str(obj.conversation))

    @admin.display(description="Content")
    def short_content(self, obj: Message) -> str:
        return obj.content[:80] + ("..." if len(obj.content) > 80 else "")


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "id", "started_at", "path", "interface", "model", "status", "ttft_ms", "duration_ms", "tokens",
        "conversation_link", "message_link",
    )
    list_filter = ("path", "interface", "status", "model", "started_at")
    search_fields = ("model", "error", "message__content")
    date_hierarchy = "started_at"
    list_select_related = ("conversation", "message")
    raw_id_fields = ("conversation", "message")

    @admin.display(description="Conversation", ordering="conversation")
    def conversation_link(self, obj: LLMCall) -> str:
        return _link("conversation", obj.conversation_id, f"#{obj.conversation_id}")

    @admin.display(description="Message", ordering="message")
    def message_link(self, obj: LLMCall) -> str:
        return _link("message", obj.message_id, f"#{obj.message_id}")
