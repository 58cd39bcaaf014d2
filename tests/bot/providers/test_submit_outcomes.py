"""Which answers to a submit prove the provider made no task: the rule behind every failover.

From ../shared/specs/providers.md: validation errors, refused keys, an empty balance, a rate or
concurrency limit and a wrong path are refusals before any work, for every provider. A 5xx, a
gateway's error page, a timeout or a dropped connection prove nothing: the task may exist and
be billed. The OpenAI-compatible gateway's own 502 "all providers exhausted" is the one 5xx
documented to mean no image was made.
"""

from __future__ import annotations

import json

import aiohttp
import pytest
from pydantic import SecretStr

from bot.providers.base import Provider, ProviderConfig
from bot.providers.http import HttpClient, Response, network_error
from bot.providers.registry import ADAPTERS

REFUSALS = (400, 401, 402, 403, 404, 405, 413, 422, 429)
NO_PROOF = (408, 409, 425, 500, 502, 503, 504, 520)
GATEWAY_PAGE = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


def adapter(name: str, session: aiohttp.ClientSession) -> Provider:
    config = ProviderConfig(api_key=SecretStr("k"), base_url="https://example.invalid/v1")
    return ADAPTERS[name](HttpClient(session), config)


def answer(status: int, body: object) -> Response:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return Response(status, {}, raw)


@pytest.mark.parametrize("name", list(ADAPTERS))
async def test_a_refusal_proves_no_task_and_nothing_else_does(
    name: str, session: aiohttp.ClientSession
) -> None:
    provider = adapter(name, session)
    for status in REFUSALS:
        assert provider.proves_not_created(answer(status, {"detail": "no"})), status
    for status in NO_PROOF:
        assert not provider.proves_not_created(answer(status, {"detail": "oops"})), status
        assert not provider.proves_not_created(answer(status, GATEWAY_PAGE)), status


@pytest.mark.parametrize("name", list(ADAPTERS))
async def test_only_the_gateways_own_exhausted_answer_is_a_5xx_proof(
    name: str, session: aiohttp.ClientSession
) -> None:
    exhausted = {"error": {"message": "All providers exhausted", "type": "upstream_error"}}
    proves = adapter(name, session).proves_not_created(answer(502, exhausted))
    assert proves is (name == "openai_compat")


def test_a_connection_that_never_opened_proves_no_task() -> None:
    never = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("h", 443, True, None, None, None, None),
        OSError(111, "refused"),
    )
    assert network_error(never, "fal", "POST /").accepted is False
    assert network_error(aiohttp.ConnectionTimeoutError(), "fal", "POST /").accepted is False


@pytest.mark.parametrize(
    "lost",
    [aiohttp.ServerDisconnectedError(), TimeoutError(), aiohttp.ClientPayloadError("cut")],
)
def test_a_request_that_may_have_arrived_proves_nothing(lost: BaseException) -> None:
    assert network_error(lost, "fal", "POST /").accepted is None
