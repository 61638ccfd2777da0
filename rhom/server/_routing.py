"""Routes whose path parameters may hold ``/``: user names are free text.

Starlette matches a request against the *decoded* path, where a slash the client sent
as ``%2F`` is a slash like any other: user ``a/b`` in ``/rc/v1/users/a%2Fb`` would match
no ``/rc/v1/users/{user_id}`` route, and user ``x/clients`` would match
``/rc/v1/users/{user_id}/clients`` as user ``x``. :class:`Route` matches such a request
segment by segment instead, each segment decoded on its own.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from starlette import routing
from starlette.types import Scope

__all__ = ["Route"]

_ENCODED_SLASH = re.compile(rb"%2[fF]")
_SCOPE_KEY = "rhom.segment_path"  # computed once per request, for every route tried


def _segment_path(scope: Scope) -> str | None:
    """The request's path with each segment's own ``/`` and ``%`` kept encoded, or
    ``None`` when its raw path holds no encoded slash (the usual case)."""
    cached = scope.get(_SCOPE_KEY)
    if cached is None:
        raw = scope.get("raw_path")
        cached = ""
        if raw and _ENCODED_SLASH.search(raw):
            segments = raw.decode("latin-1").split("/")
            cached = "/".join(
                urllib.parse.unquote(segment).replace("%", "%25").replace("/", "%2F") for segment in segments
            )
        scope[_SCOPE_KEY] = cached
    return cached or None


class Route(routing.Route):
    """A Starlette route whose path parameters may hold ``/``, sent as ``%2F``."""

    def matches(self, scope: Scope) -> tuple[routing.Match, Scope]:
        path = _segment_path(scope) if scope["type"] == "http" else None
        if path is None:
            return super().matches(scope)
        match, child = super().matches({**scope, "path": path})
        if match is not routing.Match.NONE:
            params: dict[str, Any] = child["path_params"]
            for name in self.param_convertors:
                if isinstance(params.get(name), str):
                    params[name] = urllib.parse.unquote(params[name])
        return match, child
