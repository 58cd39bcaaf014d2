"""Reading a provider's JSON answer, which is input from outside: a field is used only when
it has the type the protocol promises. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def get_as(body: Mapping[str, Any], key: str, kind: type[T], default: T) -> T:
    """``body[key]`` when it is a ``kind``, else ``default`` (absent, null or another type)."""
    value = body.get(key)
    return value if isinstance(value, kind) else default
