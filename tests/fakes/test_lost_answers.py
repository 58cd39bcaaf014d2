"""Answers lost after the work was done, on every fake provider.

For each fake and each way an answer is lost (dropped connection, a gateway's
502/504 page, an unreadable body, no answer until the client gives up), a real
aiohttp client sees the loss, and the provider still holds exactly one task,
billed, that a later read finds. This is what "the request may have reached the
provider" means in money: a lost answer is not a failed submit.
"""

from __future__ import annotations

import pytest

from bot.errors import Transient
from bot.providers.http import HttpClient
from tests.fakes.providers import FAKES
from tests.fakes.providers.lost import LOSSES
from tests.fakes.rigs import PROMPT, RIGS, Call, readable, reads, send

CLIENT_GIVES_UP = 0.25  # the client's timeout when the fake holds its answer
# aiohttp repeats these once by itself when the connection drops (RFC 9112 9.3.1)
RESENT_ON_DROP = {"GET", "PUT"}
PROXY_HEADERS = {"server", "content-type", "content-length", "date", "connection", "keep-alive"}


# Every route a fake can lose an answer on, apart from its submit: (rig, route).
READ_ROUTES = [
    (case, route)
    for case in FAKES
    for route in FAKES[case].cls.fault_routes
    if route != FAKES[case].cls.submit_route
]


async def see_loss(http: HttpClient, call: Call, how: str, route: str) -> None:
    """Send ``call``; the client sees the loss ``how``, nothing it could take for an answer."""
    if how in ("drop", "hang"):
        with pytest.raises(Transient) as caught:
            await send(http, call, timeout=CLIENT_GIVES_UP if how == "hang" else None)
        assert caught.value.accepted is not False, "the request reached the provider"
        assert ("timed out" in str(caught.value)) == (how == "hang"), caught.value
        return
    answer = await send(http, call)
    if how == "garble":
        assert answer.ok and not readable(route, answer)
        return
    assert answer.status == int(how)
    assert answer.headers["Content-Type"].startswith("text/html")
    assert {"502": "502 Bad Gateway", "504": "504 Gateway Time-out"}[how] in answer.text()
    assert {name.lower() for name in answer.headers} <= PROXY_HEADERS, "a proxy's page, not theirs"


def test_every_fake_has_a_rig_and_every_route_a_read() -> None:
    assert {rig.fake for rig in RIGS.values()} == set(FAKES)
    for name, spec in FAKES.items():
        assert spec.cls.submit_route in spec.cls.fault_routes, name


@pytest.mark.parametrize("how", LOSSES)
@pytest.mark.parametrize("case", RIGS)
async def test_lost_submit_answer_leaves_exactly_one_billed_task(
    case: str, how: str, http: HttpClient
) -> None:
    rig = RIGS[case]
    async with FAKES[rig.fake].cls(latency=0) as fake:
        fake.lose_answer_next(fake.submit_route, how)
        await see_loss(http, rig.submit(fake, PROMPT), how, "submit")
        await fake.wait_losses(1)

        [task] = fake.billed_tasks()
        assert fake.billed_images() == 1
        assert fake.billed_per_prompt() == {PROMPT: 1}
        assert [(loss.route, loss.how) for loss in fake.losses] == [(fake.submit_route, how)]
        assert [(r.prompt, r.billed) for r in fake.created_tasks()] == [(PROMPT, True)]

        task_reads = reads(fake, rig, task)
        if rig.poll is not None:
            later = await send(http, task_reads[rig.poll])
            assert later.ok and rig.finished(later.json()), later.text()
        image = await send(http, task_reads["file"])
        assert image.ok and readable("file", image), "the image was made"


@pytest.mark.parametrize("how", LOSSES)
@pytest.mark.parametrize(("case", "route"), READ_ROUTES)
async def test_lost_read_answer_changes_nothing_and_the_next_read_works(
    case: str, route: str, how: str, http: HttpClient
) -> None:
    rig = RIGS[case]
    cancelling = route == "cancel"
    async with FAKES[rig.fake].cls(latency=600 if cancelling else 0) as fake:
        assert (await send(http, rig.submit(fake, PROMPT))).ok
        [task] = fake.tasks.values()
        call = reads(fake, rig, task)[route]
        times = 2 if how == "drop" and call.method in RESENT_ON_DROP else 1

        fake.lose_answer_next(route, how, times=times)
        await see_loss(http, call, how, route)
        await fake.wait_losses(times)
        if cancelling:
            assert task.cancelled, "the cancel was done, only its answer lost"

        again = await send(http, call)
        assert readable(route, again), again.text()
        assert [t.id for t in fake.billed_tasks()] == [task.id]
        assert len(fake.losses) == times


async def test_aiohttp_resends_a_dropped_get_once_by_itself(http: HttpClient) -> None:
    """Worth knowing: one dropped poll never reaches the bot; only a dropped submit (POST) does."""
    rig = RIGS["bfl"]
    async with FAKES["bfl"].cls(latency=0) as fake:
        assert (await send(http, rig.submit(fake, PROMPT))).ok
        [task] = fake.tasks.values()
        fake.lose_answer_next("poll", "drop")
        answer = await send(http, reads(fake, rig, task)["poll"])
        assert answer.ok and rig.finished(answer.json())
        assert fake.count("poll", "GET") == 2 and len(fake.losses) == 1


async def test_a_loss_waits_for_a_request_the_provider_handles(http: HttpClient) -> None:
    """A refused key or a fault before the work does not use up the loss: the work comes first."""
    rig = RIGS["bfl"]
    async with FAKES["bfl"].cls(latency=0) as fake:
        fake.lose_answer_next("submit", "502")
        fake.fail_next("submit", 503, {"detail": "busy"})
        good = rig.submit(fake, PROMPT)
        assert (await send(http, good)).status == 503
        stranger = Call(good.method, good.url, {"x-key": "wrong-key"}, good.body)
        assert (await send(http, stranger)).status == 403
        assert not fake.tasks and not fake.losses
        assert (await send(http, good)).status == 502
        assert len(fake.billed_tasks()) == 1
        assert (await send(http, rig.submit(fake, "another"))).ok, "one loss, then answers again"


async def test_unknown_loss_or_route_is_refused() -> None:
    async with FAKES["fal"].cls() as fake:
        with pytest.raises(ValueError, match="unknown loss"):
            fake.lose_answer_next("submit", "timeout")
        with pytest.raises(ValueError, match="no route 'poll'"):
            fake.lose_answer_next("poll", "drop")
