"""The database lock: one holder at a time, released when the holder lets go."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.storage.sqlite.lock import AlreadyRunning, instance_lock, lock_path


def test_a_second_holder_is_refused_naming_the_first(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "bot.db"
    with instance_lock(db):
        assert lock_path(db).read_text().strip() == str(os.getpid())
        with pytest.raises(AlreadyRunning) as caught, instance_lock(db):
            pass
        assert f"(pid {os.getpid()}) is already running on {db}" in str(caught.value)
    with instance_lock(db):
        pass  # released on exit
    with instance_lock(tmp_path / "other.db"):
        pass  # another database is another lock
