"""The operator command line, run as the installed ``imagine-bot`` script against every fake."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bot.images import probe
from bot.settings import PROVIDER_NAMES, PROVIDER_VARIABLES
from tests.fakes.providers import FAKES, trust_for
from tests.fakes.providers.base import FakeProviderServer

SCRIPT = Path(sys.executable).parent / "imagine-bot"

# provider -> (fake class, host the base URL points at, path under it)


@pytest.fixture
async def fakes() -> AsyncIterator[dict[str, FakeProviderServer]]:
    async with AsyncExitStack() as stack:
        started = {}
        for name, spec in FAKES.items():
            started[name] = await stack.enter_async_context(spec.cls(latency=0.05))
        yield started


def environment(
    fakes: dict[str, FakeProviderServer],
    *,
    keys: dict[str, str] | None = None,
    only: list[str] | None = None,
) -> dict[str, str]:
    """A clean environment: PATH and the fakes' keys and URLs, nothing from the developer's."""
    env = {"PATH": os.environ.get("PATH", ""), "LOG_LEVEL": "WARNING"}
    names = only or list(FAKES)
    for name in names:
        key_var, url_var = PROVIDER_VARIABLES[name]
        env[key_var] = (keys or {}).get(name, fakes[name].api_key)
        env[url_var] = FAKES[name].base_url(fakes[name])
    env.update(trust_for({name: fakes[name] for name in names}))
    return env


async def run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
async def test_generate_writes_the_image_and_reports_it(
    provider: str, fakes: dict[str, FakeProviderServer], tmp_path: Path
) -> None:
    aspect = "16:9"
    code, out, err = await run(
        [
            "generate",
            "a lighthouse at dusk",
            "--aspect",
            aspect,
            "--seed",
            "42",
            "--provider",
            provider,
            "-o",
            "out.jpg",
        ],
        environment(fakes),
        tmp_path,
    )
    assert code == 0, err
    info = probe((tmp_path / "out.jpg").read_bytes())
    assert info.content_type == "image/jpeg"
    assert abs(info.width / info.height - 16 / 9) < 0.05
    assert f"provider {provider}" in out
    assert "seed " in out
    assert "nsfw no" in out
    assert fakes[provider].tasks, "the request reached this provider's fake"
    for other, fake in fakes.items():
        if other != provider:
            assert not fake.tasks, f"{other} must not be used when --provider {provider}"


async def test_png_from_the_output_suffix(
    fakes: dict[str, FakeProviderServer], tmp_path: Path
) -> None:
    code, _, err = await run(
        ["generate", "a cat", "--provider", "fal", "-o", "cat.png"], environment(fakes), tmp_path
    )
    assert code == 0, err
    assert probe((tmp_path / "cat.png").read_bytes()).content_type == "image/png"


async def test_several_images_are_numbered(
    fakes: dict[str, FakeProviderServer], tmp_path: Path
) -> None:
    code, _, err = await run(
        ["generate", "a cat", "--count", "2", "--provider", "fal", "-o", "cat.jpg"],
        environment(fakes),
        tmp_path,
    )
    assert code == 0, err
    assert (tmp_path / "cat-1.jpg").exists()
    assert (tmp_path / "cat-2.jpg").exists()


async def test_nsfw_flag_is_printed(fakes: dict[str, FakeProviderServer], tmp_path: Path) -> None:
    fakes["fal"].script("nsfw")
    code, out, _ = await run(
        ["generate", "x", "--provider", "fal", "-o", "x.jpg"], environment(fakes), tmp_path
    )
    assert code == 0
    assert "nsfw yes" in out


async def test_fails_over_when_the_first_provider_refuses_the_key(
    fakes: dict[str, FakeProviderServer], tmp_path: Path
) -> None:
    env = environment(fakes, keys={"bfl": "revoked-key"})
    code, out, err = await run(["generate", "a cat", "-o", "cat.jpg"], env, tmp_path)
    assert code == 0, err
    assert "provider fal" in out
    assert "revoked-key" not in out + err


async def test_bad_option_is_refused_with_what_is_allowed(
    fakes: dict[str, FakeProviderServer], tmp_path: Path
) -> None:
    code, _, err = await run(["generate", "a cat", "--seed", "-5"], environment(fakes), tmp_path)
    assert code == 2, "a bad option is a usage error"
    assert "--seed -5" in err
    assert "0 to 2147483647" in err
    assert not any(fake.tasks for fake in fakes.values())


async def test_a_provider_that_cannot_serve_is_explained(
    fakes: dict[str, FakeProviderServer], tmp_path: Path
) -> None:
    code, _, err = await run(
        ["generate", "a cat", "--aspect", "21:9", "--provider", "wavespeed"],
        environment(fakes),
        tmp_path,
    )
    assert code == 1
    assert "21:9" in err
    assert "wavespeed" in err


async def test_tolerance_above_the_operators_ceiling_is_refused(
    fakes: dict[str, FakeProviderServer], tmp_path: Path
) -> None:
    env = {**environment(fakes), "MAX_SAFETY_TOLERANCE": "3"}
    code, _, err = await run(["generate", "a cat", "--tolerance", "5"], env, tmp_path)
    assert code == 2, "a bad option value is a usage error"
    assert "--tolerance 5 is not valid: 5 is above this bot's ceiling" in err
    assert "0 to 3 (MAX_SAFETY_TOLERANCE)" in err
    assert not any(fake.tasks for fake in fakes.values())


async def test_tolerance_zero_is_never_sent_looser(
    fakes: dict[str, FakeProviderServer], tmp_path: Path
) -> None:
    code, _, err = await run(
        ["generate", "a cat", "--tolerance", "0", "--provider", "fal"],
        environment(fakes),
        tmp_path,
    )
    assert code == 1
    assert "fal: cannot apply safety tolerance 0: its strictest is 1" in err
    assert not fakes["fal"].tasks


async def test_bad_setting_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "FAL_KEY": "k", "HTTP_TIMEOUT": "soon"}
    code, _, err = await run(["providers"], env, tmp_path)
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "HTTP_TIMEOUT" in err
    assert "Traceback" not in err


async def test_no_provider_configured(tmp_path: Path) -> None:
    code, _, err = await run(["generate", "x"], {"PATH": os.environ.get("PATH", "")}, tmp_path)
    assert code == 2
    assert "no provider is configured" in err


async def test_providers_checks_every_key(
    fakes: dict[str, FakeProviderServer], tmp_path: Path
) -> None:
    env = environment(fakes, keys={"replicate": "r8_wrong_token"})
    code, out, err = await run(["providers"], env, tmp_path)
    assert code == 1, "a refused key makes the check fail"
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert set(lines) == set(PROVIDER_NAMES)
    assert "FAILED" in lines["replicate"]
    assert "refused" in lines["replicate"]
    for name in set(PROVIDER_NAMES) - {"replicate"}:
        assert " ok " in lines[name], lines[name]
    assert "r8_wrong_token" not in out + err
    assert not any(fake.tasks for fake in fakes.values()), "checking keys must cost nothing"


async def test_providers_lists_unset_ones(
    fakes: dict[str, FakeProviderServer], tmp_path: Path
) -> None:
    code, out, _ = await run(["providers"], environment(fakes, only=["fal"]), tmp_path)
    assert code == 0
    assert "set BFL_API_KEY" in out
