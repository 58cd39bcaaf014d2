"""The health verdict a supervisor gets from the running bot's heartbeat file."""

from __future__ import annotations

from pathlib import Path

from bot import heartbeat
from bot.heartbeat import GRACE, STALE, Beat, heartbeat_path, verdict

NOW = 1_000_000.0


def test_the_file_sits_next_to_the_database() -> None:
    assert heartbeat_path(Path("/data/imagine-bot.sqlite3")) == Path("/data/imagine-bot.heartbeat")


def test_round_trip_and_a_torn_file_reads_as_none(tmp_path: Path) -> None:
    path = tmp_path / "bot.heartbeat"
    beat = Beat(NOW, 7, True, NOW - 5)
    heartbeat.write(path, beat)
    assert heartbeat.read(path) == beat
    path.write_text('{"at": 1')
    assert heartbeat.read(path) is None
    heartbeat.remove(path)
    assert heartbeat.read(path) is None


def test_connected_and_fresh_is_healthy() -> None:
    ok, line = verdict(Beat(NOW - 3, 7, True, NOW - 100), Path("h"), NOW)
    assert ok
    assert line == "healthy: connected to Discord, last heartbeat 3 s ago (pid 7)"


def test_no_file_or_a_stale_one_is_unhealthy() -> None:
    ok, line = verdict(None, Path("/data/x.heartbeat"), NOW)
    assert not ok
    assert "no heartbeat at /data/x.heartbeat" in line
    ok, line = verdict(Beat(NOW - STALE - 1, 7, True, 0), Path("h"), NOW)
    assert not ok
    assert "has stopped or is stuck" in line


def test_disconnected_is_healthy_only_for_a_while() -> None:
    assert verdict(Beat(NOW, 7, False, NOW - GRACE + 10), Path("h"), NOW)[0]
    ok, line = verdict(Beat(NOW, 7, False, NOW - GRACE - 10), Path("h"), NOW)
    assert not ok
    assert line.startswith("unhealthy: not connected to Discord for 3 min")
