"""JSON from outside the pod (request bodies, assertions, deliveries, export manifests).

`json.loads` alone lets three things through that later break far from the input, as a 500:
nesting deep enough to exhaust the parser's recursion (`[[[[…`), a lone UTF-16 surrogate
(`"\\ud800"`), which no database or UTF-8 encoder takes, and a NUL character (`"\\u0000"`),
which PostgreSQL's text refuses. `loads` refuses all three here, at the edge, with a message
that names the problem; NaN and Infinity, which are not JSON, are refused as well.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 100  # a FHIR resource nests a dozen levels; a Bundle of them a few more


class BadJson(ValueError):
    """JSON that is broken, too deep, or holds text no store can keep; the message says which."""


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH, allow_nul: bool = False) -> Any:
    """The parsed value of `data`.

    `allow_nul` is for JSON the pod wrote itself (a pod export's cells), which stores a NUL
    escaped and so may carry one back.

    Raises:
        BadJson: not JSON, nested deeper than `max_depth`, or a string holds a NUL (unless
            allowed) or a lone surrogate.
    """
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise BadJson(f"it nests deeper than {max_depth} levels") from None
    except BadJson:
        raise
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise BadJson(f"it is not JSON ({str(exc)[:120]})") from None
    _check(value, max_depth, allow_nul)
    return value


def _no_constant(name: str) -> Any:
    raise BadJson(f"{name} is not a JSON number")


def _check(value: Any, max_depth: int, allow_nul: bool) -> None:
    """Walks the value without recursion: depth, and every key and string."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _text(item, allow_nul)
        elif isinstance(item, dict | list):
            if depth > max_depth:
                raise BadJson(f"it nests deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, inner in item.items():
                    _text(key, allow_nul)
                    pending.append((inner, depth + 1))
            else:
                pending.extend((inner, depth + 1) for inner in item)


def _text(text: str, allow_nul: bool) -> None:
    if not allow_nul and "\x00" in text:
        raise BadJson("a string holds a NUL character (\\u0000)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadJson(
            "a string holds a lone surrogate (such as \\ud800), which is not text"
        ) from None
