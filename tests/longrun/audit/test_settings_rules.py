"""The settings rules (LR401-LR406), read from a settings module's source."""

from __future__ import annotations

import pytest

from tests.longrun.audit.conftest import Audit, rules_of

MANAGE = 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "conf.settings")\n'


def settings_tree(source: str, **extra: str) -> dict[str, str]:
    """A tree with manage.py pointing at conf/settings.py, which holds ``source``."""
    return {"manage.py": MANAGE, "conf/__init__.py": "", "conf/settings.py": source, **extra}


def test_a_sync_only_class_middleware_of_the_project_is_reported(audit: Audit):
    findings = audit(
        files=settings_tree(
            'MIDDLEWARE = [\n    "conf.mw.Timing",\n]\n',
            **{"conf/mw.py": "class Timing:\n    def __call__(self, request):\n        return request\n"},
        )
    )
    assert [(f.rule, f.path, f.line) for f in findings] == [("LR401", "conf/settings.py", 2)]


def test_middleware_declaring_async_capable_or_built_on_the_mixin_is_fine(audit: Audit):
    assert (
        audit(
            files=settings_tree(
                'MIDDLEWARE = ["conf.mw.Declared", "conf.mw.Mixed", "conf.mw.decorated", "thirdparty.Unknown"]\n',
                **{
                    "conf/mw.py": """
            from django.utils.decorators import sync_and_async_middleware
            from django.utils.deprecation import MiddlewareMixin

            class Declared:
                async_capable = True

            class Mixed(MiddlewareMixin):
                pass

            @sync_and_async_middleware
            def decorated(get_response):
                return get_response
        """
                },
            )
        )
        == []
    )


def test_middleware_built_on_a_class_outside_the_tree_is_left_to_the_system_check(audit: Audit):
    # Django's own middleware (a MiddlewareMixin the source cannot see) under a project subclass, and a mixin.
    source = """
        from django.middleware import security

        class Tuned(security.SecurityMiddleware):
            pass

        class Local:
            pass

        class TunedWithLocalMixin(Local, security.SecurityMiddleware):
            pass
    """
    files = settings_tree('MIDDLEWARE = ["conf.mw.Tuned", "conf.mw.TunedWithLocalMixin"]\n', **{"conf/mw.py": source})
    assert audit(files=files) == []


def test_whitenoise_is_reported_when_the_project_has_an_asgi_application(audit: Audit):
    findings = audit(
        files=settings_tree(
            'ASGI_APPLICATION = "conf.asgi.application"\nMIDDLEWARE = ["whitenoise.middleware.WhiteNoiseMiddleware"]\n'
        )
    )
    assert rules_of(findings) == ["LR402"]
    assert "servestatic" in findings[0].message.lower()


def test_a_persistent_connection_under_asgi_is_reported(audit: Audit):
    findings = audit(
        files=settings_tree(
            'ASGI_APPLICATION = "conf.asgi.application"\nDATABASES = {"default": {"CONN_MAX_AGE": None}}\n'
        )
    )
    assert [(f.rule, f.line) for f in findings] == [("LR403", 2)]


def test_conn_max_age_given_to_dj_database_url_is_read(audit: Audit):
    findings = audit(
        files=settings_tree(
            'import dj_database_url\nASGI_APPLICATION = "a.b"\n'
            'DATABASES = {"default": dj_database_url.config(conn_max_age=600)}\n'
        )
    )
    assert rules_of(findings) == ["LR403"]


def test_conn_max_age_set_later_by_subscript_is_read(audit: Audit):
    findings = audit(
        files=settings_tree(
            'ASGI_APPLICATION = "a.b"\nDATABASES = {"default": {}}\nDATABASES["default"]["CONN_MAX_AGE"] = 60\n'
        )
    )
    assert [(f.rule, f.line) for f in findings] == [("LR403", 3)]


def test_a_setting_in_one_branch_of_an_if_is_still_seen(audit: Audit):
    findings = audit(
        files=settings_tree(
            'import os\nASGI_APPLICATION = "a.b"\nif os.environ.get("PROD"):\n'
            '    DATABASES = {"default": {"CONN_MAX_AGE": 60}}\nelse:\n    DATABASES = {"default": {}}\n'
        )
    )
    assert rules_of(findings) == ["LR403"]


def test_the_in_memory_layer_is_reported_only_when_debug_is_known_to_be_off(audit: Audit):
    layer = 'CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}\n'
    assert rules_of(audit(files=settings_tree("DEBUG = False\n" + layer))) == ["LR404"]


def test_the_in_memory_layer_is_reported_when_debug_defaults_to_off(audit: Audit):
    # Unset, DEBUG is "" == "1": off. That is how the project runs when nobody sets the variable.
    layer = 'CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}\n'
    findings = audit(files=settings_tree('import os\nDEBUG = os.environ.get("DEBUG", "") == "1"\n' + layer))
    assert rules_of(findings) == ["LR404"]


def test_the_in_memory_layer_with_debug_defaulting_to_on_is_left_alone(audit: Audit):
    layer = 'CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}\n'
    assert audit(files=settings_tree('import os\nDEBUG = os.getenv("DEBUG", "True").lower() == "true"\n' + layer)) == []


def test_the_in_memory_layer_with_debug_from_a_variable_with_no_default_is_left_alone(audit: Audit):
    layer = 'CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}\n'
    assert audit(files=settings_tree('import os\nDEBUG = os.environ["DEBUG"] == "1"\n' + layer)) == []


def test_conn_max_age_read_from_the_environment_with_a_default_is_reported(audit: Audit):
    source = (
        "import os\n"
        'ASGI_APPLICATION = "conf.asgi.application"\n'
        'DATABASES = {"default": {"ENGINE": "x", "CONN_MAX_AGE": int(os.environ.get("CONN_MAX_AGE", 600))}}\n'
    )
    assert rules_of(audit(files=settings_tree(source))) == ["LR403"]


def test_django_environ_defaults_and_scheme_are_read(audit: Audit):
    source = (
        "import environ\n"
        "env = environ.Env(DEBUG=(bool, False))\n"
        "DEBUG = env('DEBUG')\n"
        'ASGI_APPLICATION = "conf.asgi.application"\n'
        'DATABASES = {"default": {"ENGINE": "x", "CONN_MAX_AGE": env.int("CONN_MAX_AGE", default=60)}}\n'
        'CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}\n'
    )
    assert rules_of(audit(files=settings_tree(source))) == ["LR403", "LR404"]


def test_dj_database_url_with_conn_max_age_from_the_environment_is_reported(audit: Audit):
    source = (
        "import os\nimport dj_database_url\n"
        'ASGI_APPLICATION = "conf.asgi.application"\n'
        "DATABASES = {'default': dj_database_url.config(conn_max_age=int(os.getenv('AGE', '600')))}\n"
    )
    assert rules_of(audit(files=settings_tree(source))) == ["LR403"]


def test_each_branch_of_a_conditional_expression_is_judged(audit: Audit):
    source = (
        "import os\n"
        'DEBUG = os.environ["DEBUG"] == "1"\n'
        'ASGI_APPLICATION = "conf.asgi.application"\n'
        'DATABASES = {"default": {"ENGINE": "x", "CONN_MAX_AGE": 0 if DEBUG else 600}}\n'
    )
    findings = audit(files=settings_tree(source))
    assert rules_of(findings) == ["LR403"] and "600 (in one configuration)" in findings[0].message


def test_python_decouple_defaults_are_read(audit: Audit):
    source = (
        "from decouple import config\n"
        "DEBUG = config('DEBUG', default=False, cast=bool)\n"
        'CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}\n'
    )
    assert rules_of(audit(files=settings_tree(source))) == ["LR404"]


def test_atomic_requests_with_an_async_view_is_reported(audit: Audit):
    findings = audit(
        "from django.http import HttpResponse\n\nasync def view(request):\n    return HttpResponse()\n",
        files=settings_tree('DATABASES = {"default": {"ATOMIC_REQUESTS": True}}\n'),
    )
    assert [(f.rule, f.severity) for f in findings] == [("LR405", "error")]


def test_atomic_requests_with_only_sync_views_is_fine(audit: Audit):
    assert (
        audit(
            "from django.http import HttpResponse\n\ndef view(request):\n    return HttpResponse()\n",
            files=settings_tree('DATABASES = {"default": {"ATOMIC_REQUESTS": True}}\n'),
        )
        == []
    )


def test_settings_split_with_a_star_import_are_followed(audit: Audit):
    findings = audit(
        files=settings_tree(
            'from .base import *\nMIDDLEWARE += ["whitenoise.middleware.WhiteNoiseMiddleware"]\n',
            **{"conf/base.py": 'ASGI_APPLICATION = "a.b"\nMIDDLEWARE = []\n'},
        )
    )
    assert [(f.rule, f.path) for f in findings] == [("LR402", "conf/settings.py")]


def test_a_value_from_a_base_settings_module_is_reported_where_it_is_written(audit: Audit):
    findings = audit(
        files=settings_tree(
            "from .base import *\n",
            **{"conf/base.py": 'ASGI_APPLICATION = "a.b"\nDATABASES = {"default": {"CONN_MAX_AGE": 60}}\n'},
        )
    )
    assert [(f.rule, f.path, f.line) for f in findings] == [("LR403", "conf/base.py", 2)]


ASGI = 'ASGI_APPLICATION = "conf.asgi.application"\n'


def test_django_s_middleware_under_asgi_is_reported_hook_by_hook_as_an_info(audit: Audit):
    middleware = 'MIDDLEWARE = [\n    "django.middleware.csrf.CsrfViewMiddleware",\n]\n'
    findings = audit(files=settings_tree(ASGI + middleware))
    assert [(f.rule, f.severity, f.line) for f in findings] == [("LR406", "info", 3)]
    assert "runs process_request, process_view and process_response through sync_to_async" in findings[0].message
    assert "3 thread hops per request, 58 us of CPU each" in findings[0].message


def test_a_django_middleware_with_a_twin_in_longrun_is_pointed_at_it(audit: Audit):
    (finding,) = audit(files=settings_tree(ASGI + 'MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]\n'))
    assert "Use `longrun.middleware.CommonMiddleware`, its async-native twin." in finding.message


def test_a_django_middleware_without_a_twin_is_pointed_at_the_mixin(audit: Audit):
    (finding,) = audit(files=settings_tree(ASGI + 'MIDDLEWARE = ["django.middleware.gzip.GZipMiddleware"]\n'))
    assert "1 thread hop per request" in finding.message
    assert "put `longrun.middleware.AsyncNativeMixin` first in its bases" in finding.message


def test_django_s_middleware_without_an_asgi_application_is_left_alone(audit: Audit):
    # Under WSGI MiddlewareMixin calls its hooks directly: no hop.
    assert audit(files=settings_tree('MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]\n')) == []


def test_longrun_s_twins_are_not_reported(audit: Audit):
    middleware = '["longrun.middleware.SecurityMiddleware", "longrun.middleware.CsrfViewMiddleware"]'
    assert audit(files=settings_tree(ASGI + f"MIDDLEWARE = {middleware}\n")) == []


MIXIN_MIDDLEWARE = """
    from django.middleware.locale import LocaleMiddleware
    from django.utils.deprecation import MiddlewareMixin

    from longrun.middleware import AsyncNativeMixin

    class Stamp(MiddlewareMixin):
        def process_request(self, request):
            request.stamp = 1

        async def process_view(self, request, view, args, kwargs):
            return None

        def process_response(self, request, response):
            return response

    class Native(AsyncNativeMixin, MiddlewareMixin):
        def process_response(self, request, response):
            return response

    class OwnAcall(MiddlewareMixin):
        async def __acall__(self, request):
            return await self.get_response(request)

        def process_response(self, request, response):
            return response

    class Localized(LocaleMiddleware):
        def process_view(self, request, view, args, kwargs):
            return None

    class NativeLocalized(AsyncNativeMixin, LocaleMiddleware):
        pass

    class StampedAgain(Stamp):
        pass
"""


def mixin_findings(audit: Audit, name: str) -> list[str]:
    files = settings_tree(ASGI + f'MIDDLEWARE = ["conf.mw.{name}"]\n', **{"conf/mw.py": MIXIN_MIDDLEWARE})
    return [f.message for f in audit(files=files)]


def test_a_mixin_class_of_the_project_is_reported_with_its_sync_hooks(audit: Audit):
    # An async process_view is awaited as it is: no hop for it.
    (message,) = mixin_findings(audit, "Stamp")
    assert message.startswith("`conf.mw.Stamp` runs process_request and process_response through sync_to_async")


def test_a_mixin_class_that_inherits_its_hooks_from_a_project_base_is_reported(audit: Audit):
    (message,) = mixin_findings(audit, "StampedAgain")
    assert "runs process_request and process_response" in message


def test_a_project_class_built_on_django_s_middleware_counts_both_classes_hooks(audit: Audit):
    (message,) = mixin_findings(audit, "Localized")
    assert "runs process_request, process_view and process_response" in message


@pytest.mark.parametrize("name", ["Native", "OwnAcall", "NativeLocalized"])
def test_a_mixin_class_made_async_native_is_not_reported(audit: Audit, name: str):
    assert mixin_findings(audit, name) == []


def test_middleware_in_each_branch_of_the_settings_is_reported_where_it_is_written(audit: Audit):
    source = (
        "import os\n"
        + ASGI
        + 'if os.environ.get("COMPRESS"):\n'
        + '    MIDDLEWARE = ["django.middleware.gzip.GZipMiddleware"]\n'
        + "else:\n"
        + '    MIDDLEWARE = ["django.middleware.http.ConditionalGetMiddleware"]\n'
    )
    findings = audit(files=settings_tree(source))
    assert [(f.rule, f.line) for f in findings] == [("LR406", 4), ("LR406", 6)]


def test_middleware_added_to_a_base_settings_module_is_reported_in_the_module_that_adds_it(audit: Audit):
    files = settings_tree(
        'from .base import *\nMIDDLEWARE += ["django.middleware.locale.LocaleMiddleware"]\n',
        **{"conf/base.py": ASGI + 'MIDDLEWARE = ["django.middleware.security.SecurityMiddleware"]\n'},
    )
    assert [(f.rule, f.path, f.line) for f in audit(files=files)] == [
        ("LR406", "conf/base.py", 2),
        ("LR406", "conf/settings.py", 2),
    ]
