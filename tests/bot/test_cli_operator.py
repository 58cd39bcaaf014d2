"""The command line as an operator meets it: checked before paying, plain words, clean streams."""

from __future__ import annotations

import os
import socket
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.errors import BadCredentials, NoProviderAvailable, RateLimited, Transient
from bot.explain import no_provider, provider_problem, transport_reason
from bot.settings import Settings
from tests.bot.test_cli import run
from tests.fakes.providers import FAKES, trust_for
from tests.fakes.providers.base import FakeProviderServer

ROOT = Path(__file__).parents[2]


@pytest.fixture
async def fal() -> AsyncIterator[FakeProviderServer]:
    async with FAKES["fal"].cls(latency=0.05) as server:
        yield server


def env_for(fal: FakeProviderServer, **changes: str) -> dict[str, str]:
    """Only fal, pointed at its fake; LOG_LEVEL=INFO, as in a .env written for the bot."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "FAL_KEY": fal.api_key,
        "FAL_BASE_URL": FAKES["fal"].base_url(fal),
        "LOG_LEVEL": "INFO",
        **trust_for({"fal": fal}),
    }
    env.update(changes)
    return env


def submits(fal: FakeProviderServer) -> int:
    return sum(1 for r in fal.requests if r.method == "POST")


async def test_a_bad_output_path_is_refused_before_anything_is_submitted(
    fal: FakeProviderServer, tmp_path: Path
) -> None:
    code, out, err = await run(
        ["generate", "a cat", "-o", "/no/such/dir/out.jpg"], env_for(fal), tmp_path
    )
    assert code == 2
    assert out == ""
    assert err == (
        "imagine-bot: -o /no/such/dir/out.jpg: the folder /no/such/dir does not exist: create "
        "it or choose another -o (nothing was submitted)\n"
    )
    assert fal.requests == [], "nothing reached the provider, so nothing was paid"


async def test_an_output_path_that_is_a_folder_is_refused_too(
    fal: FakeProviderServer, tmp_path: Path
) -> None:
    (tmp_path / "pictures").mkdir()
    code, _, err = await run(["generate", "a cat", "-o", "pictures"], env_for(fal), tmp_path)
    assert code == 2
    assert "-o pictures is a folder" in err
    assert fal.requests == []


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--tolerance", "9"], "--tolerance 9"),
        (["--count", "7"], "--count 7"),
        (["--strength", "2"], "--strength 2.0"),
        (["--reference", "missing.png"], "--reference missing.png"),
    ],
)
async def test_an_error_names_the_flag_as_typed(
    fal: FakeProviderServer, tmp_path: Path, args: list[str], flag: str
) -> None:
    code, _, err = await run(["generate", "a cat", *args], env_for(fal), tmp_path)
    assert code == 2
    assert err.startswith(f"imagine-bot: {flag} is not valid: ")
    assert "allowed: " in err
    assert "safety_tolerance" not in err and "reference_strength" not in err
    assert err.count("\n") == 1
    assert fal.requests == []


async def test_a_refused_key_says_key_refused_and_names_the_variable(
    fal: FakeProviderServer, tmp_path: Path
) -> None:
    env = env_for(fal, FAL_KEY="revoked-key")
    code, out, err = await run(["generate", "a cat", "--provider", "fal"], env, tmp_path)
    assert code == 1
    assert out == ""
    assert err == (
        "imagine-bot: no provider could make the image: fal refused the key in FAL_KEY "
        "(key refused): check or replace FAL_KEY\n"
    )
    assert "busy" not in err


async def test_version_is_the_packages(tmp_path: Path) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    code, out, err = await run(["--version"], {"PATH": os.environ["PATH"]}, tmp_path)
    assert (code, out, err) == (0, f"imagine-bot {project['version']}\n", "")


async def test_help_is_plain_text(tmp_path: Path) -> None:
    code, out, _ = await run(["--help"], {"PATH": os.environ["PATH"]}, tmp_path)
    assert code == 0
    assert "``" not in out and ":class:" not in out
    for command in ("run", "generate", "providers", "usage", "backup", "restore", "health"):
        assert f"\n  {command} " in out, command


async def test_results_on_stdout_and_no_log_lines_unless_verbose(
    fal: FakeProviderServer, tmp_path: Path
) -> None:
    code, out, err = await run(["generate", "a cat", "-o", "cat.jpg"], env_for(fal), tmp_path)
    assert code == 0, err
    assert err == "", "LOG_LEVEL=INFO is for the bot; the command line logs warnings only"
    lines = out.splitlines()
    assert lines[0].startswith("wrote cat.jpg (")
    assert lines[1].startswith("seed ")
    assert len(lines) == 2


async def test_verbose_shows_each_attempt_on_stderr(
    fal: FakeProviderServer, tmp_path: Path
) -> None:
    fal.fail_next("submit", 429, {"detail": "slow down"}, headers={"Retry-After": "3"})
    code, out, err = await run(["generate", "a cat", "-o", "cat.jpg", "-v"], env_for(fal), tmp_path)
    assert code == 0, err
    assert out.startswith("wrote cat.jpg")
    [attempt] = [line for line in err.splitlines() if "WARNING" in line]
    assert attempt.startswith("imagine-bot: WARNING: submit to fal failed")
    assert "waiting 3 s as asked" in err


async def test_a_short_rate_limit_is_waited_out_and_said_in_one_line(
    fal: FakeProviderServer, tmp_path: Path
) -> None:
    fal.fail_next("submit", 429, {"detail": "slow down"}, headers={"Retry-After": "3"})
    code, out, err = await run(["generate", "a cat", "-o", "cat.jpg"], env_for(fal), tmp_path)
    assert code == 0, err
    assert err == (
        "imagine-bot: fal is rate-limiting this key; waiting 3 s as asked, then trying again\n"
    )
    assert out.startswith("wrote cat.jpg")
    assert submits(fal) == 2
    assert len(fal.tasks) == 1


async def test_a_long_rate_limit_is_refused_with_its_time(
    fal: FakeProviderServer, tmp_path: Path
) -> None:
    fal.fail_next("submit", 429, {"detail": "slow down"}, headers={"Retry-After": "600"})
    code, out, err = await run(["generate", "a cat", "-o", "cat.jpg"], env_for(fal), tmp_path)
    assert code == 1
    assert out == ""
    assert err == (
        "imagine-bot: fal is rate-limiting this key and asked to wait 10 min: try again after "
        "that\n"
    )
    assert submits(fal) == 1


async def test_providers_explains_an_empty_configuration(tmp_path: Path) -> None:
    code, out, err = await run(["providers"], {"PATH": os.environ["PATH"]}, tmp_path)
    assert code == 2
    assert "set FAL_KEY to enable" in out
    assert err.startswith("imagine-bot: no provider is configured: set at least one key variable")
    assert str(tmp_path) in err, "says where the .env file is looked for"


async def test_an_unreachable_provider_reads_as_a_sentence(tmp_path: Path) -> None:
    with socket.socket() as held:  # bound, never listening: connections are refused
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        env = {
            "PATH": os.environ["PATH"],
            "FAL_KEY": "k",
            "FAL_BASE_URL": f"http://127.0.0.1:{port}",
        }
        code, _, err = await run(["generate", "a cat", "-o", "cat.jpg"], env, tmp_path)
    assert code == 1
    assert err == (
        f"imagine-bot: no provider could make the image: could not reach fal (127.0.0.1:{port}):"
        " the connection was refused — check your network or FAL_BASE_URL\n"
    )


async def test_usage_on_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n" * 100)
    env = {"PATH": os.environ["PATH"], "DATABASE_PATH": str(notes)}
    code, out, err = await run(["usage", "--guild", "123"], env, tmp_path)
    assert code == 2
    assert out == ""
    assert err.startswith(f"imagine-bot: DATABASE_PATH={notes} is not an imagine-bot database")
    assert err.count("\n") == 1


async def test_health_exits_1_never_2_even_on_a_bad_setting(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "HTTP_TIMEOUT": "soon"}
    code, _, err = await run(["health"], env, tmp_path)
    assert code == 1, "Docker reserves a health check's exit code 2"
    assert "HTTP_TIMEOUT" in err


# --- the sentences themselves -------------------------------------------------------------

SETTINGS = Settings(_env_file=None, fal_key="k")  # type: ignore[call-arg]


def test_a_dns_failure_names_the_host_and_the_variable() -> None:
    key = aiohttp.client_reqrep.ConnectionKey("queue.fal.run", 443, True, True, None, None, None)
    dns = aiohttp.ClientConnectorDNSError(key, OSError(-2, "Name or service not known"))
    error = Transient("GET https://queue.fal.run/x/status failed", provider="fal")
    error.__cause__ = dns
    assert provider_problem(error, SETTINGS) == (
        "could not reach fal (queue.fal.run): DNS lookup failed — check your network or "
        "FAL_BASE_URL"
    )


def test_reasons_in_words() -> None:
    assert transport_reason(TimeoutError()) == "no answer in time"
    assert transport_reason(ConnectionRefusedError()) == "the connection was refused"
    assert transport_reason(aiohttp.ServerDisconnectedError()) == "the connection was dropped"
    assert transport_reason(ValueError("x")) is None


def test_no_provider_lists_each_providers_own_reason() -> None:
    error = NoProviderAvailable(
        {"bfl": "credentials", "fal": "busy", "wavespeed": "21:9 is not supported"},
        retry_after=5,
        errors={
            "bfl": BadCredentials("HTTP 401", provider="bfl"),
            "fal": RateLimited("HTTP 429", provider="fal", retry_after=5),
        },
    )
    assert no_provider(error, SETTINGS) == (
        "no provider could make the image: bfl refused the key in BFL_API_KEY (key refused): "
        "check or replace BFL_API_KEY; fal is rate-limiting this key (it asked to wait 5 s); "
        "wavespeed: 21:9 is not supported"
    )
