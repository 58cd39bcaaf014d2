"""The flow every adapter shares: plans, refusals, bounded submits, partial results, redaction."""

from __future__ import annotations

import pytest

from bot.errors import BadCredentials, InvalidRequest, SubmitUnknown, Transient
from bot.models import MAX_SEED
from bot.providers.capabilities import Capabilities, make_plan
from bot.providers.http import HttpClient, Response
from tests.bot.providers.conftest import request
from tests.fakes.providers.scripted import ScriptedProvider, limited

ONE_AT_A_TIME = limited(max_images_per_task=1)


def test_plan_splits_images_into_tasks_and_says_so() -> None:
    plan = make_plan("p", ONE_AT_A_TIME, request(count=3, seed=5))
    assert plan.images_per_task == (1, 1, 1)
    assert plan.seeds == (5, 6, 7)
    assert any("3 separate p tasks" in note for note in plan.notes)
    whole = make_plan("p", limited(max_images_per_task=4), request(count=3, seed=5))
    assert whole.images_per_task == (3,)
    assert whole.notes == ()


def test_plan_seeds_wrap_within_the_providers_range() -> None:
    plan = make_plan(
        "p",
        limited(max_images_per_task=1, seed_range=(1, MAX_SEED)),
        request(count=2, seed=MAX_SEED),
    )
    assert plan.seeds == (MAX_SEED, 1)


def test_plan_only_ever_makes_the_tolerance_stricter_and_says_so() -> None:
    plan = make_plan("p", limited(safety_tolerance=(0, 4)), request(safety_tolerance=6))
    assert plan.safety_tolerance == 4
    assert any("safety tolerance 6 sent as 4, stricter" in note for note in plan.notes)
    with pytest.raises(InvalidRequest, match="its strictest is 1"):
        make_plan("p", limited(safety_tolerance=(1, 6)), request(safety_tolerance=0))
    none = make_plan("p", limited(safety_tolerance=None), request())
    assert none.safety_tolerance is None
    assert any("cannot set a safety tolerance" in note for note in none.notes)


@pytest.mark.parametrize(
    ("accepts", "tolerance", "served"),
    [
        ((0, 6), 0, True),
        ((1, 6), 0, False),
        ((1, 6), 1, True),
        (None, 0, False),
        (None, 1, False),
        (None, 2, True),
        (None, 6, True),
    ],
)
def test_a_provider_that_would_loosen_the_tolerance_refuses_it(
    accepts: tuple[int, int] | None, tolerance: int, served: bool
) -> None:
    refusals = limited(safety_tolerance=accepts).refusals(request(safety_tolerance=tolerance))
    assert (refusals == []) is served, refusals


def test_refusals_say_what_the_provider_offers() -> None:
    caps = Capabilities(
        aspect_ratios=frozenset({"1:1", "16:9"}),
        raw=False,
        seed_range=(1, MAX_SEED),
        max_prompt_chars=10,
    )
    why = caps.refusals(request(prompt="x" * 11, aspect_ratio="21:9", raw=True, seed=0))
    assert "aspect ratio 21:9 not offered (offers 16:9, 1:1)" in why
    assert "cannot make raw images" in why
    assert "seed must be from 1 to 2147483647" in why
    assert "prompt longer than 10 characters" in why
    link_only = Capabilities(aspect_ratios=frozenset({"1:1"}), reference_url=True)
    upload = {"data": b"\x89PNG", "content_type": "image/png"}
    assert link_only.refusals(request(reference=upload)) == [
        "takes a reference image only as a link"
    ]


async def test_partial_submit_keeps_what_was_accepted(http: HttpClient) -> None:
    provider = ScriptedProvider("p", http, capabilities=ONE_AT_A_TIME)
    provider.submit_script.extend([None, Transient("connection refused", accepted=False)])
    result = await provider.generate(request(count=2))
    assert len(result.images) == 1
    assert any("1 of 2 tasks could not be started" in note for note in result.notes)


async def test_a_task_whose_answer_was_lost_is_kept_in_doubt(http: HttpClient) -> None:
    provider = ScriptedProvider("p", http, capabilities=ONE_AT_A_TIME)
    provider.submit_script.extend([None, Transient("503")])
    handle = await provider.submit(request(count=2))
    assert [t.index for t in handle.tasks] == [0] and handle.unknown == (1,)
    assert any("1 of 2 tasks went unanswered" in note for note in handle.notes)


async def test_nothing_known_to_exist_is_an_unknown_submit(http: HttpClient) -> None:
    provider = ScriptedProvider("p", http, capabilities=ONE_AT_A_TIME)
    provider.submit_script.extend([Transient("503"), Transient("refused", accepted=False)])
    with pytest.raises(SubmitUnknown) as caught:
        await provider.submit(request(count=2))
    assert caught.value.indices == (0,) and not caught.value.failover


async def test_nothing_accepted_raises_the_error(http: HttpClient) -> None:
    provider = ScriptedProvider("p", http, capabilities=ONE_AT_A_TIME)
    provider.submit_script.extend(
        [Transient("refused", accepted=False), Transient("refused", accepted=False)]
    )
    with pytest.raises(Transient) as caught:
        await provider.submit(request(count=2))
    assert caught.value.accepted is False and caught.value.failover


def test_the_api_key_is_redacted_from_whatever_the_provider_echoes(http: HttpClient) -> None:
    provider = ScriptedProvider("p", http)
    key = provider.config.api_key.get_secret_value() * 8
    provider.config = provider.config.__class__(
        api_key=type(provider.config.api_key)(key), base_url="mem://"
    )
    error = provider.redact(BadCredentials(f"invalid key {key}", provider="p"))
    assert key not in error.log_message
    assert key not in str(error)
    assert "[redacted]" in error.log_message


def test_generic_reading_of_statuses() -> None:
    from bot.errors import OutOfCredit, ProviderRejected, RateLimited
    from bot.providers.base import generic_error

    def read(status: int, submit: bool = True):  # type: ignore[no-untyped-def]
        return generic_error(Response(status, {"Retry-After": "3"}, b"x"), "p", submit=submit)

    assert isinstance(read(401), BadCredentials)
    assert isinstance(read(402), OutOfCredit)
    assert isinstance(read(429), RateLimited)
    assert read(429).retry_after == 3
    assert isinstance(read(422), ProviderRejected)
    assert read(503).accepted is None, "a 5xx on submit may have been taken"
    assert read(503, submit=False).accepted is True
