"""The common request and result models every provider adapter maps to and from."""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.errors import InvalidRequest
from bot.limits import DAILY_ALLOWANCE, LIMITS_BY_NAME, MAX_SUFFIX_CHARS

ASPECT_RATIOS: tuple[str, ...] = (
    "21:9",
    "16:9",
    "3:2",
    "4:3",
    "5:4",
    "1:1",
    "4:5",
    "3:4",
    "2:3",
    "9:16",
    "9:21",
)
MAX_SEED = 2_147_483_647
MAX_PROMPT_CHARS = 2000
MAX_IMAGES = 4
MAX_REFERENCE_BYTES = 10 * 1024 * 1024
REFERENCE_TYPES: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp")
MAX_TOLERANCE = 6  # the most permissive safety tolerance; 0 is the strictest
DEFAULT_TOLERANCE = 2
# What a member may upload as a reference image, in words.
REFERENCE_UPLOAD = f"a JPEG, PNG or WebP image up to {MAX_REFERENCE_BYTES // (1024 * 1024)} MiB"


class OutputFormat(StrEnum):
    """Image file formats a member can ask for."""

    JPEG = "jpeg"
    PNG = "png"

    @property
    def content_type(self) -> str:
        """The MIME type of this format."""
        return f"image/{self.value}"


# What a member may put in each field, in words; used in every refusal.
ALLOWED: dict[str, str] = {
    "prompt": f"text of 1 to {MAX_PROMPT_CHARS} characters",
    "aspect_ratio": ", ".join(ASPECT_RATIOS),
    "raw": "true or false",
    "seed": f"a whole number from 0 to {MAX_SEED}",
    "output_format": "jpeg or png",
    "safety_tolerance": f"a whole number from 0 (strictest) to {MAX_TOLERANCE} (most permissive)",
    "reference": f"{REFERENCE_UPLOAD}, or an http(s) link to one",
    "reference_strength": "a number from 0 to 1",
    "count": f"a whole number from 1 to {MAX_IMAGES}",
    "enhance": "true or false (let the provider rewrite the prompt in more detail)",
}


class ReferenceImage(BaseModel):
    """An image the result should resemble: uploaded bytes, or a link to fetch."""

    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    url: str | None = None
    data: bytes | None = None
    content_type: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.url is None) == (self.data is None):
            raise ValueError("give either an image or a link, not both")
        if self.url is not None and not self.url.startswith(("https://", "http://")):
            raise ValueError("the link must start with https://")
        if self.data is not None:
            if self.content_type not in REFERENCE_TYPES:
                raise ValueError(
                    f"the image type {self.content_type or 'unknown'} is not supported"
                )
            if len(self.data) > MAX_REFERENCE_BYTES:
                raise ValueError("the image is too large")
        return self

    @classmethod
    def upload(cls, url: str, *, content_type: str | None, size: int, name: str) -> Self:
        """A file the member uploaded (its link, type and size), or InvalidRequest saying
        what is allowed."""
        kind = (content_type or "").split(";")[0].strip()
        if kind not in REFERENCE_TYPES:
            raise InvalidRequest(
                f"{name} is not a JPEG, PNG or WebP image",
                field="reference",
                allowed=REFERENCE_UPLOAD,
            )
        if size > MAX_REFERENCE_BYTES:
            raise InvalidRequest(
                f"{name} is too large", field="reference", allowed=REFERENCE_UPLOAD
            )
        return cls(url=url, content_type=kind)

    def base64(self) -> str:
        """The bytes as bare base64 (BFL's ``image_prompt``)."""
        assert self.data is not None
        return base64.b64encode(self.data).decode("ascii")

    def data_uri(self) -> str:
        """The bytes as a ``data:`` URI, which fal and Replicate accept in place of a URL."""
        return f"data:{self.content_type};base64,{self.base64()}"


class GenerationRequest(BaseModel):
    """What a member asked for, checked once here so no adapter sees bad input."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    aspect_ratio: str = "1:1"
    raw: bool = False
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    output_format: OutputFormat = OutputFormat.JPEG
    safety_tolerance: int = Field(default=DEFAULT_TOLERANCE, ge=0, le=MAX_TOLERANCE)
    reference: ReferenceImage | None = None
    reference_strength: float = Field(default=0.1, ge=0.0, le=1.0)
    count: int = Field(default=1, ge=1, le=MAX_IMAGES)
    enhance: bool = False

    @field_validator("prompt", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("aspect_ratio")
    @classmethod
    def _known_ratio(cls, value: str) -> str:
        if value not in ASPECT_RATIOS:
            raise ValueError(f"{value!r} is not a supported aspect ratio")
        return value

    @classmethod
    def parse(cls, **fields: Any) -> Self:
        """Build a request or raise InvalidRequest naming the first bad field."""
        try:
            return cls(**fields)
        except ValidationError as exc:
            raise _invalid(exc) from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """Load a request stored by ``model_dump_json``."""
        return cls.model_validate_json(text)


def _invalid(exc: ValidationError) -> InvalidRequest:
    first = exc.errors(include_url=False)[0]
    loc = first.get("loc") or ("request",)
    field = str(loc[0])
    reason = first.get("msg", "invalid value")
    if reason.startswith("Value error, "):
        reason = reason.removeprefix("Value error, ")
    if first.get("type") == "extra_forbidden":
        return InvalidRequest("unknown option", field=field, allowed=", ".join(ALLOWED))
    return InvalidRequest(reason[:1].lower() + reason[1:], field=field, allowed=ALLOWED.get(field))


class GeneratedImage(BaseModel):
    """One image as delivered: its bytes and what we know of them."""

    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    data: bytes = Field(repr=False)
    content_type: str
    width: int
    height: int
    # NSFW or not, and who said so ("provider" or "bot"); None while nobody could tell.
    nsfw: bool | None = None
    nsfw_source: str | None = None
    seed: int | None = None

    @property
    def extension(self) -> str:
        """File extension for this image's type."""
        return {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}.get(
            self.content_type, "bin"
        )


class Timings(BaseModel):
    """Where the time went, in seconds, measured by us (and the provider's own figure)."""

    model_config = ConfigDict(frozen=True)

    submit: float = 0.0
    wait: float = 0.0
    download: float = 0.0
    provider: float | None = None

    @property
    def total(self) -> float:
        """Submit, wait and download together."""
        return self.submit + self.wait + self.download


class GenerationResult(BaseModel):
    """What came back: the images, the seed, and where and how fast they were made."""

    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    images: tuple[GeneratedImage, ...]
    seed: int | None
    provider: str
    job_id: str
    timings: Timings
    notes: tuple[str, ...] = ()
    prompt: str | None = None  # the prompt as the provider rewrote it, when it did

    @property
    def nsfw(self) -> bool:
        """True when the provider flagged any image."""
        return any(image.nsfw is True for image in self.images)


def decode_base64(text: str) -> bytes:
    """Decode bare or ``data:`` base64 as providers send it; ValueError if it is not."""
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not valid base64") from exc


class JobStatus(StrEnum):
    """Where a job is: queued → submitting → submitted → fetched → done, or an end state."""

    QUEUED = "queued"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    FETCHED = "fetched"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MODERATED = "moderated"

    @property
    def terminal(self) -> bool:
        """True once nothing more will happen to the job."""
        return self in TERMINAL

    @property
    def running(self) -> bool:
        """True while a provider has (or may have) the job."""
        return self in (JobStatus.SUBMITTING, JobStatus.SUBMITTED, JobStatus.FETCHED)


TERMINAL = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.MODERATED})


class NsfwPolicy(StrEnum):
    """What happens to an image the provider flagged as NSFW."""

    SPOILER = "spoiler"
    BLOCK = "block"


class UnknownNsfw(StrEnum):
    """What happens, outside age-restricted channels, to an image nobody could judge: its
    provider gives no NSFW flag and the bot's classifier is off or failed."""

    SPOILER = "spoiler"
    POST = "post"
    BLOCK = "block"


class GuildSettings(BaseModel):
    """What a guild's moderators and admins decide; unset fields follow the operator's defaults."""

    model_config = ConfigDict(frozen=True, extra="ignore", validate_assignment=True)

    safety_tolerance: int = Field(default=DEFAULT_TOLERANCE, ge=0, le=MAX_TOLERANCE)
    nsfw_channel_tolerance: int = Field(default=DEFAULT_TOLERANCE, ge=0, le=MAX_TOLERANCE)
    nsfw_policy: NsfwPolicy = NsfwPolicy.SPOILER
    nsfw_unknown: UnknownNsfw = UnknownNsfw.SPOILER
    refund_blocked: bool = True
    # Per-server limits: defaults, bounds and meaning live in bot.limits.
    jobs_per_minute: float = LIMITS_BY_NAME["jobs_per_minute"].field()
    burst: int = LIMITS_BY_NAME["burst"].field()
    max_running: int = LIMITS_BY_NAME["max_running"].field()
    max_queued: int = LIMITS_BY_NAME["max_queued"].field()
    user_max_running: int = LIMITS_BY_NAME["user_max_running"].field()
    user_max_queued: int = LIMITS_BY_NAME["user_max_queued"].field()
    daily_allowance: int = DAILY_ALLOWANCE.field()
    prices: dict[str, int] = Field(default_factory=dict)
    allowed_channels: tuple[int, ...] = ()
    denied_channels: tuple[int, ...] = ()
    moderator_role_id: int | None = None
    private_allowed: bool = False  # members may generate privately (/mod private)

    @model_validator(mode="after")
    def _ceiling_not_below_floor(self) -> Self:
        if self.nsfw_channel_tolerance < self.safety_tolerance:
            raise ValueError(
                "the age-restricted channel tolerance must be at least the guild's tolerance "
                f"({self.safety_tolerance})"
            )
        return self

    def channel_allowed(self, channel_id: int) -> bool:
        """Whether the bot may generate in this channel."""
        if channel_id in self.denied_channels:
            return False
        return not self.allowed_channels or channel_id in self.allowed_channels


class Privacy(StrEnum):
    """Where a member's result goes: the channel, only their eyes, or their direct messages."""

    OFF = "off"
    EPHEMERAL = "ephemeral"
    DM = "dm"


class Defaults(BaseModel):
    """Saved answers for options left out of /imagine: a member's own, or a channel's.

    Unset fields (None) defer to the next level; ``suffix`` is a channel's pinned prompt
    ending. The Discord layer resolves them into a plain GenerationRequest.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    aspect_ratio: str | None = None
    raw: bool | None = None
    output_format: OutputFormat | None = None
    count: int | None = Field(default=None, ge=1, le=MAX_IMAGES)
    private: Privacy | None = None
    suffix: str | None = Field(default=None, max_length=MAX_SUFFIX_CHARS)

    @field_validator("aspect_ratio")
    @classmethod
    def _known_ratio(cls, value: str | None) -> str | None:
        if value is not None and value not in ASPECT_RATIOS:
            raise ValueError(f"{value!r} is not a supported aspect ratio")
        return value

    def set_fields(self) -> dict[str, Any]:
        """The fields that hold a value (what this level decides)."""
        return {k: v for k, v in self.model_dump().items() if v is not None}
