"""Conversations, their messages, and one LLMCall row per call to the LLM on any path."""

from __future__ import annotations

from django.db import models


class Status(models.TextChoices):
    """The life of a generation; Message.status and LLMCall.status share it."""

    STREAMING = "streaming", "Streaming"
    COMPLETE = "complete", "Complete"
    CANCELLED = "cancelled", "Cancelled"
    ERROR = "error", "Error"
    # Only an LLMCall: turned away by LLM_MAX_IN_FLIGHT before anything was sent to the LLM or written.
    REJECTED = "rejected", "Rejected"


class CallPath(models.TextChoices):
    """Which of the three request paths served a call."""

    SYNC = "sync", "Sync view"
    ASYNC = "async", "Async view"
    WEBSOCKET = "websocket", "WebSocket consumer"
    COMMAND = "command", "Management command"


class Interface(models.TextChoices):
    """The server protocol the process was serving when the call ran."""

    WSGI = "wsgi", "WSGI"
    ASGI = "asgi", "ASGI"
    NONE = "none", "None (command)"


class Conversation(models.Model):
    title = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"


class LLMCall(models.Model):
    # Empty for a rejected call: it wrote no message, and a conversation only when the request continued one.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="calls", null=True, blank=True
    )
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="call", null=True, blank=True)
    path = models.CharField(max_length=16, choices=CallPath.choices, db_index=True)
    interface = models.CharField(max_length=8, choices=Interface.choices, db_index=True)
    model = models.CharField(max_length=200, db_index=True)
    started_at = models.DateTimeField(db_index=True)
    ttft_ms = models.FloatField(null=True, blank=True)
    # Streamed: ttft_ms is the first token. Not streamed (a ``complete``): ttft_ms is the whole reply, so figures
    # of first tokens leave those out. Empty for a rejected call, and for calls recorded before the field.
    streamed = models.BooleanField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    tokens = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.STREAMING, db_index=True)
    error = models.TextField(blank=True)
    # "host pid start-time" of the process running the call: a call left streaming by a process that is gone is
    # closed as an error (llm_app/recovery.py), never one a live process still runs.
    owner = models.CharField(max_length=255, blank=True, db_index=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = "LLM call"

    def __str__(self) -> str:
        return f"{self.path}/{self.interface} {self.model} {self.status}"
