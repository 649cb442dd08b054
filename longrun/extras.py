"""The optional parts of the toolkit, and the error that says which extra installs what one of them needs.

The base install (``pip install longrun``) is what the audit, the system checks and the bridges need. The rest
comes with an extra: ``[fix]`` (libcst, for ``audit --fix``), ``[detector]`` (blockbuster), ``[simulator]``
(aiohttp) and ``[loadgen]`` (aiohttp, psutil, websockets). A part used without its extra raises
``MissingExtra``, whose message says what to install.
"""

from __future__ import annotations

import re
from importlib import metadata


class MissingExtra(ImportError):
    """Raised when a part of longrun is used without the extra that installs its dependencies."""

    def __init__(self, feature: str, extra: str, missing: str) -> None:
        self.feature = feature
        self.extra = extra
        self.missing = missing
        super().__init__(
            f"{feature} needs {missing}, which comes with the [{extra}] extra of longrun. Install it with "
            f'pip install "{_requirement(missing, extra)}", or reinstall longrun with the extra: '
            f'pip install "longrun[{extra}] @ <the git URL, wheel or path you installed longrun from>".',
            name=missing,
        )


def _requirement(name: str, extra: str) -> str:
    """The extra's requirement for ``name`` as longrun's installed metadata declares it (versions included)."""
    try:
        declared = metadata.requires("longrun") or []
    except metadata.PackageNotFoundError:
        return name  # longrun imported from a source tree that was never installed
    for requirement in declared:
        spec, _, marker = requirement.partition(";")
        if re.match(rf"{re.escape(name)}\b", spec.strip()) and f'extra == "{extra}"' in marker:
            return spec.strip()
    return name
