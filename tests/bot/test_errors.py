"""Every error has a short user line and a detailed log line; details stay out of the user line."""

from __future__ import annotations

import pytest

from bot.errors import (
    BadCredentials,
    Cancelled,
    ContentModerated,
    ImagineError,
    InvalidRequest,
    NoProviderAvailable,
    OutOfCredit,
    ProviderRejected,
    RateLimited,
    TaskFailed,
    Transient,
)

SECRET_DETAIL = "HTTP 401 body mentions internal-host-7 and trace 0xdeadbeef"


@pytest.mark.parametrize(
    "error",
    [
        BadCredentials(SECRET_DETAIL, provider="fal"),
        OutOfCredit(SECRET_DETAIL, provider="fal"),
        RateLimited(SECRET_DETAIL, provider="fal", retry_after=12.4),
        ContentModerated(SECRET_DETAIL, provider="fal"),
        Transient(SECRET_DETAIL, provider="fal"),
        TaskFailed(SECRET_DETAIL, provider="fal"),
        Cancelled(SECRET_DETAIL),
        ImagineError(SECRET_DETAIL),
    ],
)
def test_user_line_is_short_and_hides_details(error: ImagineError) -> None:
    assert len(error.user_message) < 200
    assert "internal-host" not in error.user_message
    assert "internal-host" in error.log_message


def test_log_line_names_provider_and_status() -> None:
    line = Transient("timed out", provider="bfl", status=504).log_message
    assert line.startswith("[bfl] Transient")
    assert "HTTP 504" in line


def test_rate_limited_says_when() -> None:
    assert "12 s" in RateLimited("x", retry_after=12.4).user_message


def test_failover_and_retry_flags() -> None:
    assert Transient().failover
    assert Transient().retryable
    assert RateLimited().failover
    assert not ContentModerated().failover
    assert not InvalidRequest().failover
    assert not ProviderRejected("bad").failover
    assert TaskFailed().accepted is True


def test_provider_rejection_is_an_invalid_request() -> None:
    error = ProviderRejected("aspect_ratio: bad", provider="fal", status=422, field="aspect_ratio")
    assert isinstance(error, InvalidRequest)
    assert error.accepted is False
    assert "aspect_ratio" in error.user_message


def test_no_provider_lists_reasons() -> None:
    error = NoProviderAvailable({"wavespeed": "aspect ratio 21:9 not offered"})
    assert "wavespeed: aspect ratio 21:9 not offered" in error.user_message
    assert "No image provider is configured" in NoProviderAvailable({}).user_message
