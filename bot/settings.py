"""Everything an operator configures, read once from the environment and a ``.env`` file.

Each provider is enabled by the presence of its API key, read from the variable
its own docs and SDK use. Every base URL can be overridden (proxies, regional
hosts such as BFL's ``https://api.eu.bfl.ai``). A bad value stops start-up with
one line naming the variable.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.limits import (
    DAILY_ALLOWANCE,
    GUILD_LIMITS,
    LIMITS_BY_NAME,
    NSFW_THRESHOLD,
    PRICE_PER_IMAGE,
    VARY_STRONG,
    VARY_SUBTLE,
)
from bot.models import MAX_TOLERANCE
from bot.origins import BadOrigin, Origin, parse_origin

PROVIDER_NAMES: tuple[str, ...] = (
    "bfl",
    "fal",
    "replicate",
    "wavespeed",
    "apiframe",
    "aimlapi",
    "openai_compat",
)

# Provider name -> (key variable, base URL variable), as operators know them.
PROVIDER_VARIABLES: dict[str, tuple[str, str]] = {
    "bfl": ("BFL_API_KEY", "BFL_BASE_URL"),
    "fal": ("FAL_KEY", "FAL_BASE_URL"),
    "replicate": ("REPLICATE_API_TOKEN", "REPLICATE_BASE_URL"),
    "wavespeed": ("WAVESPEED_API_KEY", "WAVESPEED_BASE_URL"),
    "apiframe": ("APIFRAME_API_KEY", "APIFRAME_BASE_URL"),
    "aimlapi": ("AIMLAPI_API_KEY", "AIMLAPI_BASE_URL"),
    "openai_compat": ("OPENAI_COMPAT_API_KEY", "OPENAI_COMPAT_BASE_URL"),
}


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    """The operator's configuration; secrets stay ``SecretStr`` until the moment of use."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    discord_token: SecretStr | None = None
    discord_dev_guild_id: int | None = None
    status_edit_seconds: float = Field(default=3.0, ge=1.0, le=60.0)

    # Provider credentials: each key enables its provider.
    bfl_api_key: SecretStr | None = None
    fal_key: SecretStr | None = None
    replicate_api_token: SecretStr | None = None
    wavespeed_api_key: SecretStr | None = None
    apiframe_api_key: SecretStr | None = None
    aimlapi_api_key: SecretStr | None = None
    openai_compat_api_key: SecretStr | None = None

    # Base URLs, overridable for proxies and regional hosts.
    bfl_base_url: str = "https://api.bfl.ai"
    fal_base_url: str = "https://queue.fal.run"
    replicate_base_url: str = "https://api.replicate.com"
    wavespeed_base_url: str = "https://api.wavespeed.ai"
    apiframe_base_url: str = "https://api.apiframe.ai"
    aimlapi_base_url: str = "https://api.aimlapi.com"
    openai_compat_base_url: str | None = None
    openai_compat_model: str = "flux1.1-pro-ultra"

    provider_order: Annotated[tuple[str, ...], NoDecode] = PROVIDER_NAMES
    provider_prices: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    provider_concurrency: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    provider_costs: Annotated[dict[str, Decimal], NoDecode] = Field(default_factory=dict)
    price_per_image: int = PRICE_PER_IMAGE.field()

    database_path: Path = Path("data/imagine-bot.sqlite3")
    # postgresql://user:password@host:port/db: a PostgreSQL server shared by a fleet of bot
    # processes. A path here means a SQLite file (as DATABASE_PATH); unset keeps SQLite.
    database_url: SecretStr | None = None
    max_running_jobs: int = Field(default=32, ge=1, le=10_000)
    max_starts_per_second: float = Field(default=20.0, gt=0, le=10_000)
    # Jobs fetching their images and posting them at once: a burst of finished images is
    # handled this many at a time, so the event loop never has all of them in one turn.
    max_finishing_jobs: int = Field(default=32, ge=1, le=10_000)
    # The bot's own NSFW check for images whose provider gives no flag (the nsfw extra).
    nsfw_check: bool = True
    nsfw_threshold: float = Field(default=NSFW_THRESHOLD, gt=0.0, le=1.0)
    daily_allowance: int = DAILY_ALLOWANCE.field()
    # Remix (issue 15): the reference strength of Vary (Subtle) and Vary (Strong).
    vary_subtle_strength: float = VARY_SUBTLE.field()
    vary_strong_strength: float = VARY_STRONG.field()
    # The operator's default for each per-server limit (bot.limits has their one home).
    guild_jobs_per_minute: float = LIMITS_BY_NAME["jobs_per_minute"].field()
    guild_burst: int = LIMITS_BY_NAME["burst"].field()
    guild_max_running: int = LIMITS_BY_NAME["max_running"].field()
    guild_max_queued: int = LIMITS_BY_NAME["max_queued"].field()
    user_max_running: int = LIMITS_BY_NAME["user_max_running"].field()
    user_max_queued: int = LIMITS_BY_NAME["user_max_queued"].field()

    http_timeout: float = Field(default=30.0, gt=0, le=600)
    job_timeout: float = Field(default=600.0, gt=0, le=3600)
    download_max_mb: int = Field(default=40, ge=1, le=512)

    log_level: str = "INFO"

    # --- security (issue 10) ---------------------------------------------------------
    # The most permissive safety tolerance any guild, channel or --tolerance may use.
    max_safety_tolerance: int = Field(default=MAX_TOLERANCE, ge=0, le=MAX_TOLERANCE)
    # Extra origins the bot may fetch from as written (http, private addresses): a proxy,
    # an internal CDN. "https://cdn.example.com,http://10.0.0.5:8080" or bare hosts.
    trusted_hosts: Annotated[tuple[Origin, ...], NoDecode] = ()
    # More API origins that get one provider's key: "bfl=https://bfl-poll.example.com,...".
    provider_api_hosts: Annotated[dict[str, tuple[Origin, ...]], NoDecode] = Field(
        default_factory=dict
    )

    @field_validator("trusted_hosts", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in (p.strip() for p in value.split(",")) if part]
        try:
            return tuple(o if isinstance(o, Origin) else parse_origin(str(o)) for o in value)
        except BadOrigin as exc:
            raise ValueError(str(exc)) from None

    @field_validator("provider_api_hosts", mode="before")
    @classmethod
    def _api_origins(cls, value: Any) -> Any:
        pairs: list[tuple[str, Any]]
        if isinstance(value, str):
            pairs = []
            for part in filter(None, (p.strip() for p in value.split(","))):
                name, sep, origin = part.partition("=")
                if not sep:
                    raise ValueError(
                        f"{part!r} is not provider=origin (e.g. bfl=https://bfl-poll.example.com)"
                    )
                pairs.append((name.strip().lower(), origin.strip()))
        else:
            pairs = [(n, o) for n, many in dict(value).items() for o in many]
        unknown = sorted({name for name, _ in pairs if name not in PROVIDER_NAMES})
        if unknown:
            raise ValueError(
                f"unknown provider {', '.join(unknown)}; choose from {', '.join(PROVIDER_NAMES)}"
            )
        mapping: dict[str, tuple[Origin, ...]] = {}
        try:
            for name, origin in pairs:
                parsed = origin if isinstance(origin, Origin) else parse_origin(str(origin))
                mapping[name] = (*mapping.get(name, ()), parsed)
        except BadOrigin as exc:
            raise ValueError(str(exc)) from None
        return mapping

    # Operations (issue 11): how patiently start-up reaches Discord and the providers.
    startup_attempts: int = Field(default=6, ge=1, le=100)

    @field_validator("provider_order", mode="before")
    @classmethod
    def _split_order(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("provider_prices", "provider_concurrency", "provider_costs", mode="before")
    @classmethod
    def _split_mapping(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        mapping: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            name, sep, number = part.partition("=")
            if not sep:
                raise ValueError(f"{part!r} is not name=number (e.g. fal=5,bfl=6)")
            mapping[name.strip().lower()] = number.strip()
        return mapping

    @field_validator("provider_prices", "provider_concurrency", "provider_costs")
    @classmethod
    def _mapping_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = [name for name in value if name not in PROVIDER_NAMES]
        if unknown:
            raise ValueError(
                f"unknown provider {', '.join(unknown)}; choose from {', '.join(PROVIDER_NAMES)}"
            )
        if any(number < 0 for number in value.values()):
            raise ValueError("numbers must not be negative")
        return value

    @field_validator("provider_order")
    @classmethod
    def _known_providers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in PROVIDER_NAMES]
        if unknown:
            raise ValueError(
                f"unknown provider {', '.join(unknown)}; choose from {', '.join(PROVIDER_NAMES)}"
            )
        if len(set(value)) != len(value):
            raise ValueError("a provider is listed twice")
        return value

    @field_validator(
        "bfl_base_url",
        "fal_base_url",
        "replicate_base_url",
        "wavespeed_base_url",
        "apiframe_base_url",
        "aimlapi_base_url",
        "openai_compat_base_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")) or len(value) <= len("https://"):
            raise ValueError("must be an http(s) URL, like https://api.example.com")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @model_validator(mode="after")
    def _compat_needs_url(self) -> Settings:
        if self.openai_compat_api_key is not None and self.openai_compat_base_url is None:
            raise ValueError(
                "OPENAI_COMPAT_BASE_URL must be set when OPENAI_COMPAT_API_KEY is "
                "(e.g. https://api.lumenfall.ai/openai/v1)"
            )
        return self

    def api_key(self, provider: str) -> SecretStr | None:
        """The key that enables ``provider``, if the operator set one."""
        key: SecretStr | None = getattr(self, PROVIDER_VARIABLES[provider][0].lower())
        if key is None or not key.get_secret_value().strip():
            return None
        return key

    def base_url(self, provider: str) -> str | None:
        """Where ``provider``'s API lives (after any override)."""
        return getattr(self, PROVIDER_VARIABLES[provider][1].lower())

    def enabled_providers(self) -> list[str]:
        """Providers with a key, in the configured order."""
        return [name for name in self.provider_order if self.api_key(name) is not None]

    def price(self, provider: str) -> int:
        """Credits one image costs at ``provider`` unless a guild sets its own price."""
        return self.provider_prices.get(provider, self.price_per_image)

    def guild_defaults(self) -> dict[str, Any]:
        """The operator's defaults for every guild's settings."""
        limits = {limit.name: getattr(self, limit.variable.lower()) for limit in GUILD_LIMITS}
        return {"daily_allowance": self.daily_allowance, **limits}

    @model_validator(mode="after")
    def _database_url_as_path(self) -> Settings:
        url = self.database_url.get_secret_value().strip() if self.database_url else ""
        if url and not url.startswith(("postgresql://", "postgres://")):
            self.database_path, url = Path(url), ""
        self.database_url = SecretStr(url) if url else None
        return self

    def database(self) -> str | Path:
        """Where the data lives: the PostgreSQL URL when DATABASE_URL names one, else the
        SQLite file at DATABASE_PATH."""
        return self.database_url.get_secret_value() if self.database_url else self.database_path

    def secrets(self) -> list[str]:
        """Every secret value, so logs can scrub them."""
        values = [getattr(self, name) for name in type(self).model_fields]
        return [
            v.get_secret_value()
            for v in values
            if isinstance(v, SecretStr) and v.get_secret_value()
        ]


def load_settings(**overrides: Any) -> Settings:
    """Read settings, turning validation errors into one line that names the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc)) from None


def describe_errors(exc: ValidationError) -> str:
    """One line: each bad variable by its environment name and what is wrong with it."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = error.get("loc") or ()
        variable = str(loc[0]).upper() if loc else ""
        message = error.get("msg", "invalid").removeprefix("Value error, ")
        parts.append(f"{variable}: {message}" if variable else message)
    return "; ".join(parts)
