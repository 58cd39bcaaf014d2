"""The one error taxonomy: every failure the bot can meet, with a user line and a log line.

Each error carries what a caller needs to decide (``retryable``, ``failover``,
``accepted``, ``RateLimited.retry_after``) as attributes, a short ``user_message``
fit for a Discord reply, and a ``log_message`` with the details. Details never
hold an API key: adapters build them from redacted response bodies.

The sentences a member reads about a failure are written here, once, as ``Phrase``s (an
English template and its values); the Discord layer (``cogs/errors.py``) shows them in the
member's language. A new error overrides ``user_phrase``, never ``user_message``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.text import N_, Phrase

# What a member is told when something failed that the bot did not expect (a bug): the
# details go to the operator's log, never to the member.
UNEXPECTED = N_("Something went wrong on our side; the operator has been told.")
# A job a restart found half-sent, at a provider that cannot be asked whether it arrived.
RESTARTED_WHILE_SENDING = N_(
    "The bot restarted while sending this job to the image provider and could not confirm "
    "whether it arrived, so it was stopped rather than risk paying twice. Nothing was "
    "charged; please try again."
)


def describe(error: BaseException) -> str:
    """A log line for any error: ours with their details, others with their type."""
    return getattr(error, "log_message", None) or f"{type(error).__name__}: {error}"


class ImagineError(Exception):
    """Base of every error the bot expects; anything else is a bug."""

    failover: bool = False
    retryable: bool = False

    def __init__(self, detail: str | Phrase = "", *, provider: str | None = None) -> None:
        super().__init__(str(detail) or type(self).__name__)
        # The detail in English for the log; as a Phrase where a member may read it.
        self.detail = str(detail)
        self.detail_phrase = detail if isinstance(detail, Phrase) else Phrase(detail)
        self.provider = provider

    @property
    def user_phrase(self) -> Phrase:
        """What the member who asked is told, shown in their language by the Discord layer."""
        return Phrase(UNEXPECTED)

    @property
    def user_message(self) -> str:
        """The member's sentence in English (logs, the CLI, the job's stored reason)."""
        return str(self.user_phrase)

    @property
    def log_message(self) -> str:
        """The detailed line for the operator's log."""
        where = f"[{self.provider}] " if self.provider else ""
        return f"{where}{type(self).__name__}: {self.detail}"


class InvalidRequest(ImagineError):
    """The request itself is wrong: no provider will accept it as it is."""

    def __init__(
        self,
        detail: str | Phrase = "",
        *,
        field: str | None = None,
        allowed: str | Phrase | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(detail, provider=provider)
        self.field = field
        self.allowed = allowed

    @property
    def user_phrase(self) -> Phrase:
        detail = self.detail_phrase
        if self.field and self.allowed:
            return Phrase(
                N_("`{field}` is not valid: {detail}. Allowed: {allowed}."),
                field=self.field,
                detail=detail,
                allowed=self.allowed,
            )
        if self.field:
            return Phrase(N_("`{field}` is not valid: {detail}."), field=self.field, detail=detail)
        return Phrase(N_("That request was refused: {detail}."), detail=detail)


# The longest wait for a busy provider (a rate limit's Retry-After, a paused breaker) that is
# worth waiting out: the CLI waits and the bot re-queues the job; beyond it the job is refused.
WORTH_WAITING = 60.0


class NoProviderAvailable(ImagineError):
    """No configured provider can take this request now (capabilities or health).

    ``errors`` holds what each provider tried just now answered, so the message can name a
    refused key or an empty balance instead of calling every provider busy.
    """

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
        self.errors = dict(errors or {})

    @property
    def worth_waiting(self) -> bool:
        """True when trying again after ``retry_after`` (at most a minute) should succeed."""
        return self.retry_after is not None and self.retry_after <= WORTH_WAITING

    @property
    def user_phrase(self) -> Phrase:
        if not self.reasons:
            return Phrase(N_("No image provider is configured."))
        errors = list(self.errors.values())
        if errors and all(isinstance(e, BadCredentials | OutOfCredit) for e in errors):
            return errors[0].user_phrase
        if self.retry_after is not None:
            return Phrase(
                N_(
                    "Every image provider that can make this is busy or paused right now; "
                    "try again {when}."
                ),
                when=_wait_words(self.retry_after),
            )
        why = "; ".join(f"{name}: {reason}" for name, reason in self.reasons.items())
        return Phrase(N_("No provider can make this image: {why}."), why=why)


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
    def user_phrase(self) -> Phrase:
        return Phrase(
            N_("The image provider refused the bot's credentials; the operator has been told.")
        )


class OutOfCredit(ProviderError):
    """The operator's account at this provider has no balance left."""

    failover = True

    @property
    def user_phrase(self) -> Phrase:
        return Phrase(
            N_(
                "The bot's account at the image provider is out of credit; the operator has "
                "been told."
            )
        )


class RateLimited(ProviderError):
    """The provider asks us to slow down; ``retry_after`` seconds when it said so."""

    failover = True
    retryable = True

    @property
    def user_phrase(self) -> Phrase:
        if self.retry_after is not None:
            seconds = max(1, round(self.retry_after))
            return Phrase(
                N_("The image provider is busy; try again in about {seconds} s."), seconds=seconds
            )
        return Phrase(N_("The image provider is busy; try again in a minute."))


class ContentModerated(ProviderError):
    """The provider's safety system refused the prompt or the image it made."""

    def __init__(self, detail: str = "", *, reasons: Iterable[str] = (), **kw) -> None:
        super().__init__(detail, **kw)
        self.reasons = tuple(reasons)

    @property
    def user_phrase(self) -> Phrase:
        return Phrase(
            N_("The provider's safety filter refused this request; try rewording the prompt.")
        )


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
    def user_phrase(self) -> Phrase:
        return Phrase(N_("The image provider refused the request: {detail}."), detail=self.detail)


class ProviderMisconfigured(ProviderError):
    """The operator's settings point at something the provider does not have (model, path)."""

    failover = True

    @property
    def user_phrase(self) -> Phrase:
        return Phrase(N_("An image provider is misconfigured; the operator has been told."))


class Transient(ProviderError):
    """A passing fault: 5xx, timeout, dropped connection, malformed answer."""

    failover = True
    retryable = True

    @property
    def user_phrase(self) -> Phrase:
        return Phrase(N_("The image provider had a problem; please try again."))


class SubmitUnknown(Transient):
    """A submit's answer was lost (timeout, dropped connection, gateway error, unreadable body):
    the provider may have the task and bill it, so the job goes nowhere else.

    ``tasks`` is how many provider tasks are in doubt (``indices``: which of the plan, when
    known; the others were refused). The job ends refunded; the provider task log keeps the
    doubt, so the operator can check it against the provider's invoice.
    """

    failover = False
    retryable = False

    def __init__(
        self, detail: str = "", *, tasks: int = 1, indices: tuple[int, ...] = (), **kw: Any
    ) -> None:
        kw.setdefault("accepted", None)
        super().__init__(detail, **kw)
        self.tasks = tasks
        self.indices = indices

    @property
    def user_phrase(self) -> Phrase:
        return Phrase(
            N_(
                "The image provider did not confirm whether it took this job, so the bot stopped "
                "rather than risk paying for it twice. Nothing was charged; please try again."
            )
        )


class TaskFailed(ProviderError):
    """The provider accepted the job and then reported that it failed, without an image."""

    failover = True

    def __init__(self, detail: str = "", **kw) -> None:
        kw.setdefault("accepted", True)
        super().__init__(detail, **kw)

    @property
    def user_phrase(self) -> Phrase:
        return Phrase(N_("The image provider could not finish this image."))


class ProviderFault(ProviderError):
    """The provider's answer broke the bot's rules, so the bot refused it: a link it will not
    follow (a private address, plain http, another host for the key) or a file that is not a
    safe image. ``reason`` is the bot's own sentence, never the provider's text. It counts
    against the provider's health; the job is not sent elsewhere, since the provider already
    has it.
    """

    failover = True

    def __init__(self, detail: str = "", *, reason: str, **kw) -> None:
        kw.setdefault("accepted", True)
        super().__init__(detail or reason, **kw)
        self.reason = reason

    @property
    def user_phrase(self) -> Phrase:
        return Phrase(N_("The image provider's answer was refused: {reason}."), reason=self.reason)


class Cancelled(ImagineError):
    """The job was cancelled by its owner or, ``by_moderator``, by a moderator."""

    def __init__(self, detail: str = "", *, by_moderator: bool = False) -> None:
        super().__init__(detail)
        self.by_moderator = by_moderator

    @property
    def user_phrase(self) -> Phrase:
        return Phrase(N_("Cancelled by a moderator.") if self.by_moderator else N_("Cancelled."))


class ShuttingDown(ImagineError):
    """The bot is stopping: it takes no new job now; the jobs it has resume at the next start."""

    retryable = True

    def __init__(self, *, retry_after: float = 30.0) -> None:
        super().__init__("the bot is stopping")
        self.retry_after = retry_after

    @property
    def user_phrase(self) -> Phrase:
        return Phrase(
            N_("The bot is restarting and takes no new images for a moment; try again in a minute.")
        )


def _wait_words(seconds: float | None) -> Phrase:
    """'in about 40 s' / 'in about 3 min' / 'in about 2 h 5 min'."""
    if seconds is None:
        return Phrase(N_("later"))
    seconds = max(1, round(seconds))
    if seconds < 90:
        return Phrase(N_("in about {seconds} s"), seconds=seconds)
    minutes = round(seconds / 60)
    if minutes < 90:
        return Phrase(N_("in about {minutes} min"), minutes=minutes)
    return Phrase(N_("in about {hours} h {minutes} min"), hours=minutes // 60, minutes=minutes % 60)


class Refused(ImagineError):
    """The bot will not take this job: a limit, a rule or the balance. Nothing is charged."""


# Whose queue is full, by the limit that is reached (the names of ``bot.limits``).
_FULL_QUEUE = {
    "user_max_queued": (
        N_("You already have 1 image waiting"),
        N_("You already have {count} images waiting"),
    ),
    "max_queued": (
        N_("This server already has 1 image waiting"),
        N_("This server already has {count} images waiting"),
    ),
}


class LimitReached(Refused):
    """A queue limit stops this job now: ``limit`` (its name in ``bot.limits``) is at ``value``
    with ``waiting`` jobs queued; ``frees_in`` says when it would fit."""

    def __init__(self, *, limit: str, value: int, waiting: int, frees_in: float | None) -> None:
        one, many = _FULL_QUEUE[limit]
        super().__init__(Phrase(one) if waiting == 1 else Phrase(many, count=waiting))
        self.limit = limit
        self.value = value
        self.waiting = waiting
        self.frees_in = frees_in

    @property
    def user_phrase(self) -> Phrase:
        return Phrase(
            N_("{full} (limit {limit}); there is room again {when}."),
            full=self.detail_phrase,
            limit=self.value,
            when=_wait_words(self.frees_in),
        )


class InsufficientCredits(Refused):
    """The member's balance in this guild does not cover the job."""

    def __init__(self, *, needed: int, available: int, refills_in: float | None) -> None:
        super().__init__(f"needs {needed} credits, has {available}")
        self.needed = needed
        self.available = available
        self.refills_in = refills_in

    @property
    def user_phrase(self) -> Phrase:
        if self.refills_in is None:
            return Phrase(
                N_("This needs {needed} credits and you have {available}."),
                needed=self.needed,
                available=self.available,
            )
        return Phrase(
            N_(
                "This needs {needed} credits and you have {available}. Your daily allowance "
                "refills {when}."
            ),
            needed=self.needed,
            available=self.available,
            when=_wait_words(self.refills_in),
        )


class Banned(Refused):
    """A moderator stopped this member from generating in this guild."""

    @property
    def user_phrase(self) -> Phrase:
        if not self.detail:
            return Phrase(N_("A moderator has stopped you from generating images here."))
        return Phrase(
            N_("A moderator has stopped you from generating images here. Reason: {reason}"),
            reason=self.detail,
        )


class ChannelNotAllowed(Refused):
    """The guild does not allow generating in this channel."""

    @property
    def user_phrase(self) -> Phrase:
        return Phrase(
            N_(
                "Images can't be made in this channel; the moderators have limited where the "
                "bot works."
            )
        )


class PromptBlocked(Refused):
    """The prompt contains a phrase on the guild's blocklist."""

    def __init__(self, phrase: str) -> None:
        super().__init__(f"blocked phrase {phrase!r}")
        self.phrase = phrase

    @property
    def user_phrase(self) -> Phrase:
        return Phrase(
            N_("Your prompt contains “{phrase}”, which this server's moderators have blocked."),
            phrase=self.phrase,
        )


class DeliveryFailed(ImagineError):
    """Posting the images failed; ``permanent`` when retrying cannot help (channel gone)."""

    def __init__(self, detail: str = "", *, permanent: bool = False) -> None:
        super().__init__(detail)
        self.permanent = permanent

    @property
    def user_phrase(self) -> Phrase:
        return Phrase(N_("The image was made but could not be posted here."))


class NotAllowed(Refused):
    """The member may not do this (not their job, too late); the detail says why."""

    @property
    def user_phrase(self) -> Phrase:
        return self.detail_phrase


class NotYours(NotAllowed):
    """A member acted on another member's job, and is not a moderator here."""

    def __init__(self, action: str = N_("do that")) -> None:
        super().__init__(
            Phrase(
                N_("Only the member who asked for this image, or a moderator, can {action}."),
                action=Phrase(action),
            )
        )


class UnknownJob(NotAllowed):
    """The job does not exist, or not in this server."""

    def __init__(self) -> None:
        super().__init__(Phrase(N_("That image is no longer known to the bot.")))


# Who cannot stop a job, when the provider's name is not known.
THE_PROVIDER = Phrase(N_("the provider"))
# Why a job can no longer be cancelled, by where it stands.
_TOO_LATE = {
    "unstoppable": N_(
        "This image is already being made and {label} cannot stop it; it will arrive shortly."
    ),
    "arriving": N_("Too late to cancel: the image is about to arrive."),
    "posting": N_("Too late to cancel: the image is being posted."),
    "finished": N_("This job has already finished."),
    "moved_on": N_("This job has already moved on and can no longer be cancelled."),
}


class TooLateToCancel(NotAllowed):
    """The job is past the point where it can be cancelled; ``stage`` says where it stands
    (``label``: the provider that cannot stop it, as members know it)."""

    def __init__(self, stage: str, *, label: str | Phrase = THE_PROVIDER) -> None:
        template = _TOO_LATE[stage]
        super().__init__(Phrase(template, label=label) if "{" in template else Phrase(template))
        self.stage = stage


class PhraseRefused(NotAllowed):
    """A phrase that cannot go on the blocklist (too long, no letter); ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            Phrase(N_("That phrase can't be blocked: {reason} Nothing was changed."), reason=reason)
        )
        self.reason = reason
