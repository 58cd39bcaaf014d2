"""Origins (scheme, host, port): the unit in which the bot decides what it trusts. Pure.

An origin is compared exactly: ``http://127.0.0.1:5001`` and ``http://127.0.0.1:5002`` are
two origins, and so are ``http://cdn.example.com`` and ``https://cdn.example.com``. Host
names are compared lowercased, without a trailing dot; IPv6 addresses in their compressed
form.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


class BadOrigin(ValueError):
    """Text that is not an http(s) origin or host; the message says what was expected."""


@dataclass(frozen=True)
class Origin:
    """Where a request goes: scheme, host and port (the default port filled in)."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if DEFAULT_PORTS.get(self.scheme) == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}"


def normal_host(host: str) -> str:
    """A host as origins compare it: lowercased, no trailing dot, IPv6 compressed."""
    host = host.strip().lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


# Everything a trust decision reads is in a URL's scheme and authority (host, port, user
# info); the path and query never change it. Decisions are cached by that prefix, since a
# bot asks about the same few hosts thousands of times.
_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]*")


def authority(url: str) -> str:
    """The scheme and authority of a URL (``https://user@host:443``), its whole text if none."""
    text = url.strip()
    found = _AUTHORITY.match(text)
    return found.group() if found else text


def origin_of(url: str) -> Origin:
    """The origin a URL points at; BadOrigin if it is not an http(s) URL with a host."""
    return _origin(authority(url))


@functools.lru_cache(maxsize=1024)
def _origin(url: str) -> Origin:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadOrigin(f"not a URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise BadOrigin(f"the scheme must be http or https, not {scheme or 'none'}")
    if not parts.hostname:
        raise BadOrigin("the URL has no host")
    return Origin(scheme, normal_host(parts.hostname), port or DEFAULT_PORTS[scheme])


def parse_origin(text: str) -> Origin:
    """An operator's entry: ``https://cdn.example.com[:port]`` or a bare host (https assumed)."""
    text = text.strip()
    shown = f"{text!r} is not an origin or a host, like https://cdn.example.com or cdn.example.com"
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    if parts.username is not None or parts.password is not None:
        raise BadOrigin(f"{shown} (no user or password)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise BadOrigin(f"{shown} (no path)")
    try:
        return origin_of(text)
    except BadOrigin as exc:
        raise BadOrigin(f"{shown} ({exc})") from None
