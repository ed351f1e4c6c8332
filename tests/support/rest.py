"""One call to the server's codelab/ REST API through pytest-jupyter's ``jp_fetch``."""

from __future__ import annotations

import json
from typing import Any

from codelab_ext import NAMESPACE


async def rest_call(
    jp_fetch: Any, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
) -> tuple[int, Any, Any]:
    """(status, decoded JSON or text, the response): never raises on an error status."""
    kwargs: dict[str, Any] = {"method": method, "raise_error": False}
    if body is not None:
        kwargs["body"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
    elif method in ("POST", "PUT", "PATCH"):
        kwargs["body"] = ""
        kwargs["allow_nonstandard_methods"] = True
    response = await jp_fetch(NAMESPACE, *path.split("/"), params=params, **kwargs)
    text = response.body.decode()
    ctype = response.headers.get("Content-Type", "")
    data = json.loads(text) if ctype.startswith("application/json") and text else text
    return response.code, data, response
