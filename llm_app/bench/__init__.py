"""The server comparison behind ``manage.py compare_servers``: scenarios, orchestration, the floor app, reports."""
