"""Each per-server limit has one home; the settings, the model and the README follow it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.limits import GUILD_LIMITS, Limit, readme_table
from bot.models import GuildSettings
from bot.settings import Settings, SettingsError, load_settings

README = Path(__file__).parents[2] / "README.md"


def test_the_readme_table_is_the_one_the_limits_make() -> None:
    assert readme_table() in README.read_text(encoding="utf-8")


@pytest.mark.parametrize("limit", GUILD_LIMITS, ids=lambda limit: limit.name)
def test_each_limit_has_the_same_default_and_bounds_everywhere(limit: Limit) -> None:
    setting = Settings.model_fields[limit.variable.lower()]
    guild = GuildSettings.model_fields[limit.name]
    assert setting.default == guild.default == limit.default
    assert GuildSettings().model_dump()[limit.name] == limit.default


@pytest.mark.parametrize("limit", GUILD_LIMITS, ids=lambda limit: limit.name)
def test_the_operators_variable_sets_every_servers_default(
    limit: Limit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(limit.variable, "7")
    settings = load_settings(_env_file=None)
    assert GuildSettings.model_validate(settings.guild_defaults()).model_dump()[limit.name] == 7


@pytest.mark.parametrize("limit", GUILD_LIMITS, ids=lambda limit: limit.name)
def test_a_value_out_of_bounds_stops_start_up_naming_the_variable(
    limit: Limit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(limit.variable, str(limit.high * 10))
    with pytest.raises(SettingsError, match=limit.variable):
        load_settings(_env_file=None)
