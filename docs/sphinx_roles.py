"""Griffe extension: turn the Sphinx roles of rbo's numpydoc docstrings into Markdown.

The docstrings are written for numpydoc (``:math:`x```, ``:class:`~rbo.RBO```); mkdocstrings
renders Markdown and would print the roles raw. This rewrites each docstring as griffe loads
it, before rendering: math becomes arithmatex's ``$...$`` and object roles become code spans,
linked to their entry in the API reference when the target is a public ``rbo`` name.
The docstrings in ``rbo/`` are left as they are.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

# A role and its backquoted content, which may run over a line break but holds no backquote.
_ROLE = re.compile(r":(?P<role>[a-z]+):`(?P<body>[^`]+)`")
_OBJECT_ROLES = {"class", "func", "meth", "attr", "data", "mod", "exc", "obj", "const"}
# ``title <target>``, the explicit-title form of a role.
_TITLED = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)


def _object_role(role: str, body: str) -> str:
    titled = _TITLED.match(body)
    if titled:
        title, target = titled["title"], titled["target"]
    else:
        target = body.strip()
        # ``~a.b.C`` shows only ``C``, as Sphinx does.
        title = target.rsplit(".", 1)[-1] if target.startswith("~") else target
    target = target.lstrip("~")
    if role in {"func", "meth"} and not title.endswith(")"):
        title += "()"
    public = target.startswith("rbo.") and not any(p.startswith("_") for p in target.split("."))
    return f"[`{title}`][{target}]" if public else f"`{title}`"


def convert(text: str) -> str:
    """Rewrite the Sphinx roles in ``text`` as Markdown (math, code spans, references)."""

    def one(match: re.Match[str]) -> str:
        role, body = match["role"], match["body"]
        if role == "math":
            return "$" + " ".join(body.split()) + "$"
        if role in _OBJECT_ROLES:
            return _object_role(role, body)
        return f"`{body}`"

    return _ROLE.sub(one, text)


class SphinxRoles(griffe.Extension):
    """Rewrite every loaded docstring with :func:`convert`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
