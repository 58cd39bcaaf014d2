"""A heartbeat file the running bot rewrites, and the health verdict a supervisor reads from it.

The bot writes ``<database>.heartbeat`` (next to ``DATABASE_PATH``) every
``INTERVAL`` seconds: when, its process id, and whether it is connected to Discord.
``imagine-bot health`` (Docker's HEALTHCHECK) reads it: healthy while the file is
fresh and the bot is connected, or has been disconnected for less than ``GRACE``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

INTERVAL = 15.0  # seconds between two heartbeats
STALE = 4 * INTERVAL  # no heartbeat for this long: the bot is stopped or stuck
GRACE = 180.0  # not connected to Discord for this long (starting or reconnecting): unhealthy


def heartbeat_path(database_path: Path) -> Path:
    """Where the bot using this database writes its heartbeat."""
    return database_path.with_name(database_path.stem + ".heartbeat")


@dataclass(frozen=True)
class Beat:
    """One heartbeat: the time, the writer, whether Discord is connected and since when."""

    at: float
    pid: int
    connected: bool
    since: float  # when ``connected`` last changed (or the bot started)

    def to_json(self) -> str:
        """The file's content."""
        return json.dumps(
            {"at": self.at, "pid": self.pid, "connected": self.connected, "since": self.since}
        )


def write(path: Path, beat: Beat) -> None:
    """Replace the heartbeat file at once (a reader never sees half a file)."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(beat.to_json(), encoding="utf-8")
    os.replace(partial, path)


def remove(path: Path) -> None:
    """The bot stopped on purpose: no heartbeat is left to look fresh."""
    path.unlink(missing_ok=True)


def read(path: Path) -> Beat | None:
    """The last heartbeat, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Beat(
            at=float(data["at"]),
            pid=int(data["pid"]),
            connected=bool(data["connected"]),
            since=float(data["since"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _ago(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds} s" if seconds < 120 else f"{round(seconds / 60)} min"


def verdict(beat: Beat | None, path: Path, now: float) -> tuple[bool, str]:
    """Healthy or not, and the one line that says why."""
    if beat is None:
        return False, (
            f"unhealthy: no heartbeat at {path}: the bot is not running, or runs with another "
            "DATABASE_PATH"
        )
    age = now - beat.at
    if age > STALE:
        return False, (
            f"unhealthy: the last heartbeat is {_ago(age)} old: the bot (pid {beat.pid}) has "
            "stopped or is stuck; restart it"
        )
    if not beat.connected and now - beat.since > GRACE:
        return False, (
            f"unhealthy: not connected to Discord for {_ago(now - beat.since)}: check the "
            "network and the log"
        )
    state = "connected to Discord" if beat.connected else "connecting to Discord"
    return True, f"healthy: {state}, last heartbeat {_ago(age)} ago (pid {beat.pid})"
