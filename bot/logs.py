"""Log set-up that keeps secrets out of every line, whoever logs it."""

from __future__ import annotations

import logging
from collections.abc import Iterable

REDACTED = "[redacted]"


class RedactingFilter(logging.Filter):
    """Replaces any secret value in a record's message or traceback with a marker."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """The text with every known secret replaced."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
CLI_FORMAT = "imagine-bot: %(levelname)s: %(message)s"


class OneLineFormatter(logging.Formatter):
    """Puts an exception on the record's own line (type, message, where), not a traceback."""

    def __init__(self, fmt: str, redact: RedactingFilter) -> None:
        super().__init__(fmt)
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line, with ``[Type: message at file:line]`` for an exception."""
        if not record.exc_info or record.exc_info[1] is None:
            return super().format(record)
        exc_info, exc_text = record.exc_info, record.exc_text
        record.exc_info = record.exc_text = None
        try:
            line = super().format(record)
        finally:
            record.exc_info, record.exc_text = exc_info, exc_text
        return f"{line} [{self._redact.redact(summarize(exc_info[1]))}]"


def summarize(error: BaseException) -> str:
    """``Type: message at file.py:12`` (the innermost frame), on one line."""
    text = " ".join(str(error).split()) or "(no message)"
    where = ""
    trace = error.__traceback__
    while trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    if trace is not None:
        code = trace.tb_frame.f_code
        where = f" at {code.co_filename.rsplit('/', 1)[-1]}:{trace.tb_lineno}"
    return f"{type(error).__name__}: {text[:300]}{where}"


def setup_logging(level: str, secrets: Iterable[str], *, cli: bool = False) -> None:
    """Log to stderr at ``level``, every line scrubbed of ``secrets``.

    Tracebacks are printed only at DEBUG; otherwise an exception is summed up on its
    record's line. ``cli`` drops the timestamps for the one-shot commands.
    """
    redact = RedactingFilter(secrets)
    handler = logging.StreamHandler()
    fmt = CLI_FORMAT if cli else LOG_FORMAT
    if level == "DEBUG":
        handler.setFormatter(logging.Formatter(fmt))
    else:
        handler.setFormatter(OneLineFormatter(fmt, redact))
    handler.addFilter(redact)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
