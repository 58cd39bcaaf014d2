"""The connect-time check: the bot's one ClientSession reaches only addresses the rules allow.

A URL's host string proves nothing (DNS rebinding: a name can resolve to a public address
when checked and to 169.254.169.254 when connected). So the check sits where aiohttp turns
names into the addresses it connects to:

- ``AddressGuard.resolver`` wraps aiohttp's resolver and drops every non-public address a
  name resolves to, unless the name belongs to a trusted origin; a name left with none is
  refused. aiohttp connects only to what the resolver returned (and caches only that).
- ``AddressGuard.socket_factory`` is called for each address right before the socket is
  made, for names and IP literals alike: a non-public address is refused there unless it is
  a trusted origin's own address or one the resolver vouched for as a trusted name's.

Both refusals raise ``AddressRefused`` before any packet is sent.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.origins import normal_host
from bot.providers.addresses import address_problem, parse_address
from bot.providers.trust import TrustPolicy

log = logging.getLogger(__name__)

REFUSED = "refused to connect"


class AddressRefused(OSError):
    """A connection the rules forbid; the message starts with ``REFUSED``."""


class AddressGuard:
    """Holds the trust policy and the addresses vouched for; hands aiohttp its two hooks."""

    def __init__(self, policy: TrustPolicy, resolver: AbstractResolver | None = None) -> None:
        self.policy = policy
        self.inner = resolver
        self._vouched: set[tuple[str, int]] = {
            (o.host, o.port) for o in policy.origins if parse_address(o.host) is not None
        }
        self.resolver = _GuardedResolver(self)

    def judge(self, host: str, port: int, addresses: list[str]) -> list[str]:
        """The addresses ``host`` may be reached at; AddressRefused if none is allowed."""
        if self.policy.trusts_name(normal_host(host), port):
            for address in addresses:
                self._vouched.add((normal_host(address), port))
            return addresses
        allowed, refused = [], []
        for address in addresses:
            parsed = parse_address(address)
            problem = "not an IP address" if parsed is None else address_problem(parsed)
            if problem:
                refused.append(f"{address} ({problem})")
            else:
                allowed.append(address)
        if refused:
            log.warning("%s resolves to addresses the bot will not use: %s", host, refused)
        if not allowed:
            raise AddressRefused(
                f"{REFUSED} to {host}: it resolves only to addresses that are not public "
                f"({', '.join(refused)})"
            )
        return allowed

    def socket_factory(self, addr_info: Any) -> socket.socket:
        """aiohttp's last step before connecting: refuse a non-public address not vouched for."""
        family, kind, proto, _, sockaddr = addr_info
        host, port = normal_host(str(sockaddr[0])), int(sockaddr[1])
        parsed = parse_address(host)
        problem = "not an IP address" if parsed is None else address_problem(parsed)
        if problem and (host, port) not in self._vouched:
            raise AddressRefused(f"{REFUSED} to {host}: it is {problem}")
        return socket.socket(family, kind, proto)

    def connector(self, **options: Any) -> aiohttp.TCPConnector:
        """A TCPConnector with both hooks in place."""
        return aiohttp.TCPConnector(
            resolver=self.resolver, socket_factory=self.socket_factory, **options
        )


class _GuardedResolver(AbstractResolver):
    """aiohttp's resolver with the guard's judgement applied to what it returns."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._inner: AbstractResolver | None = guard.inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self._inner is None:
            self._inner = aiohttp.resolver.DefaultResolver()
        found = await self._inner.resolve(host, port, family)
        keep = set(self._guard.judge(host, port, [r["host"] for r in found]))
        return [r for r in found if r["host"] in keep]

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


def guarded_session(
    policy: TrustPolicy,
    *,
    resolver: AbstractResolver | None = None,
    limit: int = 100,
    **options: Any,
) -> aiohttp.ClientSession:
    """The bot's one ClientSession: guarded connects, no cookies, no proxy from the environment."""
    guard = AddressGuard(policy, resolver)
    return aiohttp.ClientSession(
        connector=guard.connector(limit=limit),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        **options,
    )


def refusal_in(error: BaseException) -> str | None:
    """The guard's refusal somewhere in an aiohttp failure's causes, as its message."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, AddressRefused):
            return str(current)
        if isinstance(current, OSError) and REFUSED in str(current):
            return str(current)[str(current).index(REFUSED) :].rstrip("]")
        stack += [current.__cause__, current.__context__, getattr(current, "os_error", None)]
    return None
