"""A network that never leaves the machine: names resolved from a table, connects recorded,
and a loopback server standing in for a host the bot should not trust."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult


class TableResolver(AbstractResolver):
    """DNS from a table (name → addresses); records every lookup; nothing is sent anywhere."""

    def __init__(self, table: Mapping[str, list[str]]) -> None:
        self.table = {name: list(addresses) for name, addresses in table.items()}
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        if host not in self.table:
            raise OSError(f"{host}: no such host in the test's table")
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in self.table[host]
        ]

    async def close(self) -> None:
        """Nothing to release."""


def record_connects(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every address a socket tries to connect to from now on (loopback ones still connect;
    the suite's guard still refuses the rest)."""
    attempts: list[Any] = []
    guarded_connect = socket.socket.connect
    guarded_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        return guarded_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        attempts.append(address)
        return guarded_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return attempts


@dataclass
class Witness:
    """A loopback server that records what reached it (headers included) and answers 200,
    or redirects to ``redirect_to`` when set."""

    requests: list[web.BaseRequest] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    redirect_to: str | None = None
    url: str = ""
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> Witness:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        if self.redirect_to is not None:
            raise web.HTTPFound(self.redirect_to)
        return web.json_response({"status": "Pending", "progress": 0.5})
