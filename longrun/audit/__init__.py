"""The ASGI audit: reads a Django source tree (never imports it) and reports what blocks or breaks under ASGI.

Entry points: ``longrun.audit.cli`` (``python -m longrun audit`` and ``manage.py asgi_audit``), ``engine.audit_path``
for code, ``settings_rules`` for the system checks in ``longrun.checks``. Rules live one family per module.
"""
