"""Test settings: the project's settings with the traps turned into errors.

Used by pytest and by the server processes that end-to-end tests start.
"""

import os
import tempfile
import warnings

from project.settings import *  # noqa: F403
from project.settings import env_int

# A stream Django would buffer whole must fail the test, also inside server processes where pytest's
# filterwarnings does not reach (and daphne hides warnings anyway).
warnings.filterwarnings("error", message="StreamingHttpResponse must consume", category=Warning)

# A failing upstream call should fail at once in tests, not after the SDK's backoff (unless a test asks for retries).
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 0)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# pytest-django runs tests with DEBUG off, when ServeStatic expects collected files; serve them from the apps.
SERVESTATIC_USE_FINDERS = True
SERVESTATIC_AUTOREFRESH = True

# A second database in a file, for the tests of connection housekeeping: Django never closes an in-memory SQLite
# connection (closing would destroy the database), so the default test database cannot show a close.
DATABASES["housekeeping"] = {  # noqa: F405
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": ":memory:",
    "TEST": {"NAME": os.path.join(tempfile.gettempdir(), f"longrun-housekeeping-{os.getpid()}.sqlite3")},
}
