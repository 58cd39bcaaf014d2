"""Fixtures shared by the whole suite, and the guard that keeps every test on loopback."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.providers.http import HttpClient
from bot.storage.engines import open_store
from bot.storage.interface import Store
from tests.fakes.clock import RecordingSleep

pytest_plugins = ["tests.engines"]  # place, places, postgres: a database on each engine

_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1"}


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str | bytes):
        return True  # unix sockets and the like
    name = host.decode() if isinstance(host, bytes) else host
    if name in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in the tests may reach a real host: refuse any lookup or connect off loopback."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host is not None and not _is_loopback(host):
            raise OSError(f"test tried to resolve {host!r}: tests stay on loopback")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):  # type: ignore[no-untyped-def]
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise OSError(f"test tried to connect to {address!r}: tests stay on loopback")
        return real_connect(self, address)

    def connect_ex(self, address):  # type: ignore[no-untyped-def]
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise OSError(f"test tried to connect to {address!r}: tests stay on loopback")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The one ClientSession, as the bot opens it."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def http(session: aiohttp.ClientSession) -> HttpClient:
    """The HTTP adapter over the test session, with short timeouts."""
    return HttpClient(session, timeout=5.0, download_timeout=5.0)


@pytest.fixture
def sleeps() -> RecordingSleep:
    """A sleep that records every delay asked for and returns at once."""
    return RecordingSleep()


@pytest.fixture
async def db(place: str) -> AsyncIterator[Store]:
    """A fresh, migrated database of the test's own on each engine (a SQLite file, then a
    PostgreSQL schema), closed afterwards."""
    store = await open_store(place)
    yield store
    await store.close()
