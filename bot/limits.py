"""Every per-server limit, once: its name, the operator's variable, default, bounds and meaning.

The operator's settings (``bot.settings``), each guild's settings (``bot.models``), the
``/mod limits`` options (``cogs.mod``) and the README's table are all derived from
``GUILD_LIMITS``; a test checks that each of them agrees with it. The two credit settings
an admin changes with ``/admin`` (``DAILY_ALLOWANCE``, ``PRICE_PER_IMAGE``) are described
the same way, apart from the ``/mod limits`` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field


@dataclass(frozen=True)
class Limit:
    """One per-server limit."""

    name: str  # the field in GuildSettings
    variable: str  # the operator's default, as an environment variable
    option: str  # the command option that changes it for one server
    default: float
    low: float
    high: float
    whole: bool  # a whole number (else any number in range)
    label: str  # how replies and /mod show name it
    description: str  # what it means, for the option's help and the README

    def field(self) -> Any:
        """The pydantic field for this limit, with its default and bounds."""
        default = int(self.default) if self.whole else self.default
        return Field(default=default, ge=self.low, le=self.high, description=self.description)

    @property
    def allowed(self) -> str:
        """What the limit accepts, in words."""
        kind = "a whole number" if self.whole else "a number"
        return f"{kind} from {shown(self.low)} to {shown(self.high)}"


def shown(value: float) -> str:
    """A bound or default as an operator types it (10, 0.1, 600000)."""
    return f"{value:g}" if value < 1e6 else str(int(value))


GUILD_LIMITS: tuple[Limit, ...] = (
    Limit(
        name="jobs_per_minute",
        variable="GUILD_JOBS_PER_MINUTE",
        option="jobs_per_minute",
        default=10,
        low=0.1,
        high=600_000,
        whole=False,
        label="Jobs started per minute (whole server)",
        description="Jobs the server may start per minute",
    ),
    Limit(
        name="burst",
        variable="GUILD_BURST",
        option="burst",
        default=5,
        low=1,
        high=100_000,
        whole=True,
        label="Burst (jobs started at once)",
        description="Jobs the server may start at once before the per-minute rate applies",
    ),
    Limit(
        name="max_running",
        variable="GUILD_MAX_RUNNING",
        option="server_running",
        default=4,
        low=1,
        high=1000,
        whole=True,
        label="Running jobs (whole server)",
        description="Jobs running at once in the whole server",
    ),
    Limit(
        name="max_queued",
        variable="GUILD_MAX_QUEUED",
        option="server_queued",
        default=100,
        low=1,
        high=100_000,
        whole=True,
        label="Queued jobs (whole server)",
        description="Jobs waiting at once in the whole server",
    ),
    Limit(
        name="user_max_running",
        variable="USER_MAX_RUNNING",
        option="user_running",
        default=3,
        low=1,
        high=100,
        whole=True,
        label="Running jobs per member",
        description="Jobs one member may have running at once",
    ),
    Limit(
        name="user_max_queued",
        variable="USER_MAX_QUEUED",
        option="user_queued",
        default=10,
        low=1,
        high=10_000,
        whole=True,
        label="Queued jobs per member",
        description="Jobs one member may have waiting at once",
    ),
)
LIMITS_BY_NAME: dict[str, Limit] = {limit.name: limit for limit in GUILD_LIMITS}
DAILY_ALLOWANCE = Limit(
    name="daily_allowance",
    variable="DAILY_ALLOWANCE",
    option="amount",
    default=60,
    low=0,
    high=1_000_000,
    whole=True,
    label="Daily allowance",
    description="Free credits each member gets per UTC day (0: none)",
)
PRICE_PER_IMAGE = Limit(
    name="price_per_image",
    variable="PRICE_PER_IMAGE",
    option="credits",
    default=6,
    low=0,
    high=100_000,
    whole=True,
    label="Price per image",
    description="Credits one image costs",
)
# How strongly the chosen image steers a Vary (0: not at all, 1: as closely as the provider
# can); set by the operator, the same in every server (issue 15).
VARY_SUBTLE = Limit(
    name="vary_subtle_strength",
    variable="VARY_SUBTLE_STRENGTH",
    option="",
    default=0.8,
    low=0,
    high=1,
    whole=False,
    label="Vary (Subtle) reference strength",
    description="How closely Vary (Subtle) keeps to the chosen image",
)
VARY_STRONG = Limit(
    name="vary_strong_strength",
    variable="VARY_STRONG_STRENGTH",
    option="",
    default=0.4,
    low=0,
    high=1,
    whole=False,
    label="Vary (Strong) reference strength",
    description="How closely Vary (Strong) keeps to the chosen image (lower: freer)",
)
MAX_SUFFIX_CHARS = 200  # a channel's pinned prompt suffix (/mod defaults)
LIMITS_BY_OPTION: dict[str, Limit] = {limit.option: limit for limit in GUILD_LIMITS}


def readme_table() -> str:
    """The README's table of per-server limits (a test keeps the README equal to it)."""
    rows = [
        "| variable (operator's default) | default | `/mod limits` option | allowed | meaning |",
        "|---|---|---|---|---|",
    ]
    rows += [
        f"| `{limit.variable}` | `{shown(limit.default)}` | `{limit.option}` | "
        f"{limit.allowed} | {limit.description} |"
        for limit in GUILD_LIMITS
    ]
    return "\n".join(rows)


# The bot's NSFW classifier calls an image NSFW at this score and above (0 to 1); see
# docs/nsfw.md for how it was measured.
NSFW_THRESHOLD = 0.5
