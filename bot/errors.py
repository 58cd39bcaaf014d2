"""The one error taxonomy: every failure the bot can meet, with a user line and a log line.

Each error carries what a caller needs to decide (``retryable``, ``failover``,
``accepted``, ``RateLimited.retry_after``) as attributes, a short ``user_message``
fit for a Discord reply, and a ``log_message`` with the details. Details never
hold an API key: adapters build them from redacted response bodies.
"""

from __future__ import annotations

from collections.abc import Iterable


class ImagineError(Exception):
    """Base of every error the bot expects; anything else is a bug."""

    failover: bool = False
    retryable: bool = False

    def __init__(self, detail: str = "", *, provider: str | None = None) -> None:
        super().__init__(detail or type(self).__name__)
        self.detail = detail
        self.provider = provider

    @property
    def user_message(self) -> str:
        """A short sentence for the member who asked."""
        return "Something went wrong on our side."

    @property
    def log_message(self) -> str:
        """The detailed line for the operator's log."""
        where = f"[{self.provider}] " if self.provider else ""
        return f"{where}{type(self).__name__}: {self.detail}"


class InvalidRequest(ImagineError):
    """The request itself is wrong: no provider will accept it as it is."""

    def __init__(
        self,
        detail: str = "",
        *,
        field: str | None = None,
        allowed: str | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(detail, provider=provider)
        self.field = field
        self.allowed = allowed

    @property
    def user_message(self) -> str:
        if self.field and self.allowed:
            return f"`{self.field}` is not valid: {self.detail}. Allowed: {self.allowed}."
        if self.field:
            return f"`{self.field}` is not valid: {self.detail}."
        return f"That request was refused: {self.detail}."


class NoProviderAvailable(ImagineError):
    """No configured provider can take this request now (capabilities or health)."""

    def __init__(
        self,
        reasons: dict[str, str],
        *,
        retry_after: float | None = None,
        errors: dict[str, ImagineError] | None = None,
    ) -> None:
        detail = "; ".join(f"{name}: {why}" for name, why in reasons.items()) or "none configured"
        super().__init__(detail)
        self.reasons = dict(reasons)
        self.retry_after = retry_after
        # The error each tried provider answered with (a refused key, a rate limit…).
        self.errors = dict(errors or {})

    @property
    def user_message(self) -> str:
        if not self.reasons:
            return "No image provider is configured."
        if self.retry_after is not None:
            return (
                "Every image provider is busy or down right now; "
                f"try again in about {max(1, round(self.retry_after))} s."
            )
        why = "; ".join(f"{name}: {reason}" for name, reason in self.reasons.items())
        return f"No provider can make this image: {why}."


class ProviderError(ImagineError):
    """A provider answered with (or failed with) something other than an image.

    ``retry_after`` is the wait in seconds the provider asked for, if it did.
    ``accepted`` says whether the provider took the job: False when it surely
    did not (it refused, or the connection never opened), None when unknown.
    A submit is repeated on the same provider only when ``accepted is False``.
    """

    def __init__(
        self,
        detail: str = "",
        *,
        provider: str | None = None,
        status: int | None = None,
        accepted: bool | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(detail, provider=provider)
        self.status = status
        self.accepted = accepted
        self.retry_after = retry_after
        if retryable is not None:
            self.retryable = retryable

    @property
    def log_message(self) -> str:
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{super().log_message}{status}"


class BadCredentials(ProviderError):
    """The operator's key for this provider is missing, malformed or revoked."""

    failover = True

    @property
    def user_message(self) -> str:
        return "The image provider refused the bot's credentials; the operator has been told."


class OutOfCredit(ProviderError):
    """The operator's account at this provider has no balance left."""

    failover = True

    @property
    def user_message(self) -> str:
        return (
            "The bot's account at the image provider is out of credit; the operator has been told."
        )


class RateLimited(ProviderError):
    """The provider asks us to slow down; ``retry_after`` seconds when it said so."""

    failover = True
    retryable = True

    @property
    def user_message(self) -> str:
        if self.retry_after is not None:
            seconds = max(1, round(self.retry_after))
            return f"The image provider is busy; try again in about {seconds} s."
        return "The image provider is busy; try again in a minute."


class ContentModerated(ProviderError):
    """The provider's safety system refused the prompt or the image it made."""

    def __init__(self, detail: str = "", *, reasons: Iterable[str] = (), **kw) -> None:
        super().__init__(detail, **kw)
        self.reasons = tuple(reasons)

    @property
    def user_message(self) -> str:
        return "The provider's safety filter refused this request; try rewording the prompt."


class ProviderRejected(InvalidRequest, ProviderError):
    """The provider says the request is invalid (400/422): retrying elsewhere will not help."""

    def __init__(
        self,
        detail: str = "",
        *,
        provider: str | None = None,
        status: int | None = None,
        field: str | None = None,
        accepted: bool | None = False,
    ) -> None:
        ProviderError.__init__(self, detail, provider=provider, status=status, accepted=accepted)
        self.field = field
        self.allowed = None

    @property
    def user_message(self) -> str:
        return f"The image provider refused the request: {self.detail}."


class ProviderMisconfigured(ProviderError):
    """The operator's settings point at something the provider does not have (model, path)."""

    failover = True

    @property
    def user_message(self) -> str:
        return "An image provider is misconfigured; the operator has been told."


class Transient(ProviderError):
    """A passing fault: 5xx, timeout, dropped connection, malformed answer."""

    failover = True
    retryable = True

    @property
    def user_message(self) -> str:
        return "The image provider had a problem; please try again."


class TaskFailed(ProviderError):
    """The provider accepted the job and then reported that it failed, without an image."""

    failover = True

    def __init__(self, detail: str = "", **kw) -> None:
        kw.setdefault("accepted", True)
        super().__init__(detail, **kw)

    @property
    def user_message(self) -> str:
        return "The image provider could not finish this image."


class Cancelled(ImagineError):
    """The job was cancelled by its owner or a moderator."""

    @property
    def user_message(self) -> str:
        return "The job was cancelled."


def _wait_words(seconds: float | None) -> str:
    """'in about 40 s' / 'in about 3 min' / 'in about 2 h 5 min'."""
    if seconds is None:
        return "later"
    seconds = max(1, round(seconds))
    if seconds < 90:
        return f"in about {seconds} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"in about {minutes} min"
    return f"in about {minutes // 60} h {minutes % 60} min"


class Refused(ImagineError):
    """The bot will not take this job: a limit, a rule or the balance. Nothing is charged."""


class LimitReached(Refused):
    """A queue or rate limit stops this job now; ``frees_in`` says when it would fit."""

    def __init__(self, detail: str, *, limit: str, value: int, frees_in: float | None) -> None:
        super().__init__(detail)
        self.limit = limit
        self.value = value
        self.frees_in = frees_in

    @property
    def user_message(self) -> str:
        return (
            f"{self.detail} (limit {self.value}); there is room again {_wait_words(self.frees_in)}."
        )


class InsufficientCredits(Refused):
    """The member's balance in this guild does not cover the job."""

    def __init__(self, *, needed: int, available: int, refills_in: float | None) -> None:
        super().__init__(f"needs {needed} credits, has {available}")
        self.needed = needed
        self.available = available
        self.refills_in = refills_in

    @property
    def user_message(self) -> str:
        refill = (
            f" Your daily allowance refills {_wait_words(self.refills_in)}."
            if self.refills_in is not None
            else ""
        )
        return f"This needs {self.needed} credits and you have {self.available}.{refill}"


class Banned(Refused):
    """A moderator stopped this member from generating in this guild."""

    @property
    def user_message(self) -> str:
        reason = f" Reason: {self.detail}" if self.detail else ""
        return f"A moderator has stopped you from generating images here.{reason}"


class ChannelNotAllowed(Refused):
    """The guild does not allow generating in this channel."""

    @property
    def user_message(self) -> str:
        return (
            "Images can't be made in this channel; the moderators have limited where the bot works."
        )


class PromptBlocked(Refused):
    """The prompt contains a phrase on the guild's blocklist."""

    def __init__(self, phrase: str) -> None:
        super().__init__(f"blocked phrase {phrase!r}")
        self.phrase = phrase

    @property
    def user_message(self) -> str:
        return f"Your prompt contains “{self.phrase}”, which this server's moderators have blocked."


class DeliveryFailed(ImagineError):
    """Posting the images failed; ``permanent`` when retrying cannot help (channel gone)."""

    def __init__(self, detail: str = "", *, permanent: bool = False) -> None:
        super().__init__(detail)
        self.permanent = permanent

    @property
    def user_message(self) -> str:
        return "The image was made but could not be posted here."


class NotAllowed(Refused):
    """The member may not do this (not their job, too late); the detail says why."""

    @property
    def user_message(self) -> str:
        return self.detail
