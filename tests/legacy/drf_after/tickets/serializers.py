from django.contrib.auth import get_user_model
from rest_framework import serializers


class ProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["username", "email", "first_name", "last_name"]


class TicketSerializer(serializers.Serializer):
    """A ticket to draft a reply to, as the mail gateway posts it."""

    subject = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=20_000)

    def prompt(self):
        ticket = self.validated_data
        return [
            {"role": "system", "content": "Draft a short, friendly reply to this support ticket."},
            {"role": "user", "content": f"{ticket['subject']}\n\n{ticket['body']}"},
        ]
