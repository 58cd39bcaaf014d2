"""What an operator installs: the lock file the image is built from, and how it runs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]


def locked() -> dict[str, str]:
    """name → version pinned in requirements.lock, each checked to carry hashes."""
    text = (ROOT / "requirements.lock").read_text()
    pins = {}
    for block in re.split(r"\n(?=[a-z0-9])", text):
        match = re.match(r"([a-z0-9._-]+)==([^ \\\n]+)", block)
        if match:
            assert "--hash=sha256:" in block, f"{match.group(1)} has no hash"
            pins[match.group(1).replace("_", "-").replace(".", "-")] = match.group(2)
    return pins


def test_the_lock_pins_every_dependency_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = locked()
    for requirement in project["project"]["dependencies"]:
        name = re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].lower().replace(".", "-")
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.lock"
    for build in project["build-system"]["requires"]:
        assert re.split(r"[<>=!~ ]", build, maxsplit=1)[0] in pins, "build backend is locked too"


def test_the_lock_carries_the_nsfw_extra_so_the_image_classifies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = locked()
    for requirement in project["project"]["optional-dependencies"]["nsfw"]:
        name = re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].lower().replace(".", "-")
        assert name in pins, f"{name} (extra nsfw) is missing: pip-compile with --extra nsfw"
    assert "onnxruntime" in pins


def test_the_image_installs_from_the_lock_and_checks_its_health() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    assert "pip install --no-deps --no-build-isolation ." in dockerfile
    assert 'CMD ["imagine-bot", "health"]' in dockerfile


def test_compose_restarts_keeps_the_volume_and_checks_health() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    assert "restart: unless-stopped" in compose
    assert "imagine-data:/data" in compose
    assert 'test: ["CMD", "imagine-bot", "health"]' in compose
