"""The rules' fixers: each turns the libcst node at a finding's ``Edit`` into code that runs in async code.

Registered on their rules (``rule(..., fixer=...)``) and applied by ``longrun.audit.fix``. libcst is needed for
``--fix`` only, so it is imported when a fixer runs, not when the rules are defined.
"""

from __future__ import annotations

from typing import Any

from longrun.audit.model import Edit


def _cst() -> Any:
    import libcst

    return libcst


def _dotted(name: str) -> Any:
    cst = _cst()
    parts = name.split(".")
    node: Any = cst.Name(parts[0])
    for part in parts[1:]:
        node = cst.Attribute(value=node, attr=cst.Name(part))
    return node


def _renamed(func: Any, name: str) -> Any:
    cst = _cst()
    if isinstance(func, cst.Attribute):
        return func.with_changes(attr=cst.Name(name))
    return cst.Name(name)


def await_call(node: Any, edit: Edit) -> Any:
    """``time.sleep(x)`` -> ``await asyncio.sleep(x)``: the call's function replaced, the call awaited."""
    cst = _cst()
    return cst.Await(expression=node.with_changes(func=_dotted(edit.replacement)))


def rename_call(node: Any, edit: Edit) -> Any:
    """``qs.get(...)`` -> ``await qs.aget(...)``; an already awaited call is only renamed; ``get_object_or_404(...)``
    on a Django too old for its twin -> ``await sync_to_async(get_object_or_404)(...)``."""
    cst = _cst()
    if edit.what.startswith("sync_to_async"):
        wrapped = cst.Call(func=cst.Name("sync_to_async"), args=[cst.Arg(value=node.func)])
        call = node.with_changes(func=wrapped)
        return call if edit.what.endswith("awaited call") else cst.Await(expression=call)
    call = node.with_changes(func=_renamed(node.func, edit.replacement))
    return call if edit.what == "awaited call" else cst.Await(expression=call)


def async_for(node: Any, edit: Edit) -> Any:
    """QuerySet evaluations made async: ``for``/comprehensions -> ``async for``; ``len(qs)`` -> ``await
    qs.acount()``; ``list(qs)`` -> ``[x async for x in qs]``; ``bool(qs)``/``if qs:`` -> ``await qs.aexists()``."""
    cst = _cst()
    if edit.what == "loop":
        return node.with_changes(asynchronous=cst.Asynchronous())
    if edit.what == "count":
        target = node.args[0].value
        return cst.Await(expression=cst.Call(func=cst.Attribute(value=target, attr=cst.Name("acount"))))
    if edit.what == "list":
        target = node.args[0].value
        element = cst.Name("item")
        return cst.ListComp(
            elt=element,
            for_in=cst.CompFor(target=element, iter=target, asynchronous=cst.Asynchronous()),
        )
    if edit.what in {"bool", "exists"}:
        target = node.args[0].value if edit.what == "bool" else node
        return cst.Await(expression=cst.Call(func=cst.Attribute(value=target, attr=cst.Name("aexists"))))
    return node
