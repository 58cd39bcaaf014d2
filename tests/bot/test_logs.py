"""No secret reaches a log line, whoever logs it and however."""

from __future__ import annotations

import io
import logging

from bot.logs import RedactingFilter

KEY = "sk-live-0123456789"


def capture(logger_name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter([KEY, "ab"]))
    logger = logging.getLogger(logger_name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_message_and_arguments_are_scrubbed() -> None:
    logger, out = capture("t.args")
    logger.info("calling with key %s", KEY)
    logger.warning(f"header Authorization: Key {KEY}")
    text = out.getvalue()
    assert KEY not in text
    assert text.count("[redacted]") == 2


def test_tracebacks_are_scrubbed() -> None:
    logger, out = capture("t.exc")
    try:
        raise RuntimeError(f"bad key {KEY}")
    except RuntimeError:
        logger.exception("request failed")
    assert KEY not in out.getvalue()
    assert "RuntimeError" in out.getvalue()


def test_short_values_are_not_treated_as_secrets() -> None:
    logger, out = capture("t.short")
    logger.info("abba")
    assert out.getvalue().strip() == "abba"
