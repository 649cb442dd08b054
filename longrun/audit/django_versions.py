"""Which Django the audited project runs, and which async twins that Django has.

The toolkit supports Django 4.2+, and some twins the fixes use came later (``aget_object_or_404`` and the async
auth functions in 5.0). The audit reads the project's pin (requirements files, ``pyproject.toml``, ``Pipfile``,
``setup.cfg``, ``setup.py``); without one it uses the Django importable where the audit runs (under
``manage.py asgi_audit``, the project's own). Knowing neither, messages name both ways.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

Version = tuple[int, int]

# The Django release that added each async twin the fixes and messages use (release notes of 4.1, 4.2 and 5.0).
QUERYSET_TWINS_SINCE: Version = (4, 1)  # aget, acreate, acount, afirst, ... on QuerySets and managers
INSTANCE_TWINS_SINCE: Version = (4, 2)  # Model.asave/adelete/arefresh_from_db, RelatedManager.aadd/aremove/...
TWIN_SINCE: dict[str, Version] = {
    "aget_object_or_404": (5, 0),
    "aget_list_or_404": (5, 0),
    "aauthenticate": (5, 0),
    "alogin": (5, 0),
    "alogout": (5, 0),
    "aget_user": (5, 0),
    "aupdate_session_auth_hash": (5, 0),
    "auser": (5, 0),
}

_PIN = re.compile(r"""(?ix)^\s*["']?django\s*(\[[^\]]*\])?\s*(?P<spec>(?:[<>=!~]=?\s*[\d.*]+\s*,?\s*)+)""")
_CLAUSE = re.compile(r"(?P<op>[<>=!~]=?)\s*(?P<version>\d+(?:\.\d+)?)")
_FILES = ("requirements.txt", "requirements.in", "pyproject.toml", "Pipfile", "setup.cfg", "setup.py")


@dataclass(frozen=True, slots=True)
class DjangoRange:
    """The Django versions the project allows: the oldest and the newest it can run, when known."""

    lowest: Version | None
    highest: Version | None
    source: str

    def has(self, since: Version) -> bool | None:
        """True when every allowed version has a feature added in ``since``, False when none has, else None."""
        if self.lowest is not None and self.lowest >= since:
            return True
        if self.highest is not None and self.highest < since:
            return False
        return None


UNKNOWN = DjangoRange(None, None, "")


def project_django(root: Path) -> DjangoRange:
    """The Django range of the project at ``root`` (a folder or a file in it)."""
    folder = root if root.is_dir() else root.parent
    for base in (folder, *list(folder.parents)[:2]):
        for candidate in _candidates(base):
            found = _read_pin(candidate)
            if found is not None:
                return found
    return _installed()


def _candidates(base: Path) -> list[Path]:
    files = [base / name for name in _FILES]
    files += sorted(base.glob("requirements*.txt")) + sorted(base.glob("requirements/*.txt"))
    return [path for path in files if path.is_file()]


def _read_pin(path: Path) -> DjangoRange | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        match = _PIN.search(line.split("#", 1)[0])
        if match is None:
            continue
        lowest: Version | None = None
        highest: Version | None = None
        for clause in _CLAUSE.finditer(match.group("spec")):
            version = _version(clause.group("version"))
            op = clause.group("op")
            if op in {"==", "~=", ">=", "==="}:
                lowest = version
                if op in {"==", "==="}:
                    highest = version
            elif op == ">":
                lowest = (version[0], version[1] + 1)
            elif op == "<=":
                highest = version
            elif op == "<":
                highest = (version[0] - 1, 99) if version[1] == 0 else (version[0], version[1] - 1)
        return DjangoRange(lowest, highest, path.name)
    return None


def _version(text: str) -> Version:
    parts = [int(p) for p in text.split(".")[:2]]
    return (parts[0], parts[1] if len(parts) > 1 else 0)


def _installed() -> DjangoRange:
    try:
        import django
    except ImportError:
        return UNKNOWN
    version = (int(django.VERSION[0]), int(django.VERSION[1]))
    return DjangoRange(version, version, "the installed Django")


def twin_advice(twin: str, since: Version, rendered: str, fallback: str, django: DjangoRange) -> str:
    """How to call an async twin on the project's Django: the twin, the ``sync_to_async`` form when the twin is
    too new, or both when the version is not known."""
    label = f"Django {since[0]}.{since[1]}+"
    match django.has(since):
        case True:
            return f"use `{rendered}`"
        case False:
            return f"use `{fallback}` (`{twin}` needs {label}; {django.source} allows older)"
        case _:
            return f"use `{rendered}` ({label}; on older Django, `{fallback}`)"
