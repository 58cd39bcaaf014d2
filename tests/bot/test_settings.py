"""Settings: keys enable providers, URLs can be overridden, bad values name their variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError, load_settings

ALL_VARIABLES = [name.upper() for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ALL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_a_key_enables_its_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAL_KEY", "fal-secret")
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8-secret")
    settings = load_settings()
    assert settings.enabled_providers() == ["fal", "replicate"]
    assert settings.api_key("fal").get_secret_value() == "fal-secret"
    assert "fal-secret" not in repr(settings)


def test_order_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BFL_API_KEY", "k1")
    monkeypatch.setenv("FAL_KEY", "k2")
    monkeypatch.setenv("PROVIDER_ORDER", "fal, BFL")
    monkeypatch.setenv("BFL_BASE_URL", "https://api.eu.bfl.ai/")
    settings = load_settings()
    assert settings.enabled_providers() == ["fal", "bfl"]
    assert settings.base_url("bfl") == "https://api.eu.bfl.ai"


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WAVESPEED_API_KEY=ws-key\nJOB_TIMEOUT=120\n")
    settings = load_settings()
    assert settings.enabled_providers() == ["wavespeed"]
    assert settings.job_timeout == 120


def test_blank_key_does_not_enable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAL_KEY", "   ")
    assert load_settings().enabled_providers() == []


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("PROVIDER_ORDER", "fal,midjourney", "midjourney"),
        ("BFL_BASE_URL", "api.bfl.ai", "http(s) URL"),
        ("HTTP_TIMEOUT", "soon", "number"),
        ("DOWNLOAD_MAX_MB", "0", "greater than or equal to 1"),
        ("LOG_LEVEL", "LOUD", "DEBUG, INFO"),
    ],
)
def test_a_bad_value_gives_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv("FAL_KEY", "fal-secret-value")
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{variable}:")
    assert says in message
    assert "fal-secret-value" not in message


def test_prices_and_concurrency_per_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVIDER_PRICES", "fal=5, replicate=7")
    monkeypatch.setenv("PROVIDER_CONCURRENCY", "bfl=10")
    settings = load_settings()
    assert (settings.price("fal"), settings.price("replicate"), settings.price("bfl")) == (5, 7, 6)
    assert settings.provider_concurrency == {"bfl": 10}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("fal", "name=number"),
        ("dalle=5", "dalle"),
        ("fal=cheap", "integer"),
        ("fal=-1", "negative"),
    ],
)
def test_bad_price_mapping_is_named(monkeypatch: pytest.MonkeyPatch, value: str, says: str) -> None:
    monkeypatch.setenv("PROVIDER_PRICES", value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith("PROVIDER_PRICES:")
    assert says in str(caught.value)


def test_openai_compat_needs_its_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_COMPAT_API_KEY", "sk-secret")
    with pytest.raises(SettingsError, match="OPENAI_COMPAT_BASE_URL") as caught:
        load_settings()
    assert "sk-secret" not in str(caught.value)
    monkeypatch.setenv("OPENAI_COMPAT_BASE_URL", "https://api.lumenfall.ai/openai/v1")
    assert load_settings().enabled_providers() == ["openai_compat"]


def test_secrets_are_listed_for_log_scrubbing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAL_KEY", "fal-secret")
    monkeypatch.setenv("BFL_API_KEY", "bfl-secret")
    assert sorted(load_settings().secrets()) == ["bfl-secret", "fal-secret"]


def test_readme_lists_every_setting() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", readme))
    missing = [v for v in ALL_VARIABLES if v not in documented]
    assert missing == []
