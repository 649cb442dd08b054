"""Who may call the API and how often: the same for every endpoint, the same before and after the migration."""
from rest_framework.authentication import BasicAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.throttling import UserRateThrottle


class AgentThrottle(UserRateThrottle):
    rate = "120/minute"


class DeskAPI:
    """Mixed into every API view. API clients (the mail gateway, the agents' desktop app) sign in with HTTP Basic."""

    authentication_classes = [BasicAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [AgentThrottle]
