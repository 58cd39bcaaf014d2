"""Request bodies: JSON or multipart (``payload_json`` + ``files[n]``), limits, and edits."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import web

from .models import (
    EPHEMERAL,
    LOADING,
    MAX_ATTACHMENTS,
    MAX_REQUEST,
    SUPPRESS_EMBEDS,
    FakeAttachment,
    FakeMessage,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

_FILE_FIELD = re.compile(r"^files\[(\d+)\]$")
# Flags a bot may set when sending: SUPPRESS_EMBEDS, EPHEMERAL (interactions only),
# SUPPRESS_NOTIFICATIONS, IS_COMPONENTS_V2.
_SENDABLE_FLAGS = SUPPRESS_EMBEDS | EPHEMERAL | (1 << 12) | (1 << 15)


class DiscordError(Exception):
    """An answer Discord gives to a request it refuses; ``reason`` goes to ``violations``."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message, self.errors = status, code, message, errors
        self.reason = reason or message

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_PARAM = re.compile(r';\s*([\w*]+)="?((?<=")[^"]*|[^";]*)"?')


def _form_parts(ctype: str, raw: bytes) -> Iterator[tuple[str, str | None, str | None, bytes]]:
    """(name, filename, content type, bytes) of each part of a multipart/form-data body.

    Read at once rather than with aiohttp's streaming reader: a benchmark sends hundreds
    of uploads, and the fake should cost little next to the bot it measures.
    """
    found = _BOUNDARY.search(ctype)
    boundary = b"\r\n--" + found.group(1).encode() if found else None
    preamble, *chunks = (b"\r\n" + raw).split(boundary) if boundary else (b"?",)
    if preamble or not chunks or not chunks[-1].startswith(b"--"):
        raise DiscordError(
            400, 50109, "The request body contains invalid JSON.",
            reason="multipart body not framed by the boundary its Content-Type names",
        )  # fmt: skip
    for chunk in chunks[:-1]:
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        params = dict(_PARAM.findall(headers.get("content-disposition", "")))
        filename = params.get("filename")
        if "filename*" in params:
            filename = unquote(params["filename*"].partition("''")[2]) or filename
        yield params.get("name", ""), filename, headers.get("content-type"), data


def invalid_form(errors: dict[str, Any], lines: list[str]) -> DiscordError:
    return DiscordError(400, 50035, "Invalid Form Body", errors=errors, reason="; ".join(lines))


def too_long(limit: int) -> dict[str, Any]:
    message = f"Must be {limit} or fewer in length."
    return {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": message}]}


@dataclass
class Upload:
    index: int
    filename: str
    data: bytes = field(repr=False)
    content_type: str | None


@dataclass
class Body:
    payload: Any
    uploads: dict[int, Upload]
    size: int
    multipart: bool


async def read_body(request: web.Request) -> Body:
    """The JSON payload and uploaded files; 413 past 25 MiB, 50109 for broken JSON."""
    uploads: dict[int, Upload] = {}
    payload: Any = None
    raw_json: bytes | None = None
    ctype = request.headers.get("Content-Type", "")
    multipart = ctype.lower().startswith("multipart/")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        too_big = request.content_length or 0
        raise DiscordError(
            413, 40005, "Request entity too large", reason=f"{too_big} bytes in the request"
        ) from exc
    size = len(raw)
    if multipart:
        for name, filename, part_type, data in _form_parts(ctype, raw):
            match = _FILE_FIELD.match(name)
            if name == "payload_json":
                raw_json = data
            elif match or filename:
                index = int(match.group(1)) if match else len(uploads)
                uploads[index] = Upload(index, filename or f"file{index}", data, part_type)
    else:
        if raw and ctype.partition(";")[0].strip().lower() != "application/json":
            raise DiscordError(
                400, 50109, "The request body contains invalid JSON.",
                reason=f"Content-Type {ctype!r} is neither JSON nor multipart",
            )  # fmt: skip
        raw_json = raw or None
    if max(size, request.content_length or 0) > MAX_REQUEST:
        raise DiscordError(
            413, 40005, "Request entity too large",
            reason=f"request of {max(size, request.content_length or 0)} bytes is over 25 MiB",
        )  # fmt: skip
    if raw_json is not None:
        try:
            payload = json.loads(raw_json)
        except ValueError as exc:
            raise DiscordError(
                400, 50109, "The request body contains invalid JSON.", reason=f"bad JSON: {exc}"
            ) from exc
    return Body(payload, uploads, size, multipart)


def check_upload_sizes(uploads: dict[int, Upload], limit: int) -> None:
    for upload in uploads.values():
        if len(upload.data) > limit:
            raise DiscordError(
                413, 40005, "Request entity too large",
                reason=f"file {upload.filename!r} is {len(upload.data)} bytes, over the "
                f"attachment_size_limit of {limit}",
            )  # fmt: skip


def count_errors(uploads: dict[int, Upload]) -> tuple[dict[str, Any], list[str]]:
    if len(uploads) <= MAX_ATTACHMENTS:
        return {}, []
    return {"files": too_long(MAX_ATTACHMENTS)}, [f"{len(uploads)} files, at most 10"]


def _new_attachments(
    fake: FakeDiscord,
    msg: FakeMessage,
    payload: dict[str, Any],
    uploads: dict[int, Upload],
    creating: bool,
) -> list[FakeAttachment]:
    existing = {a.id: a for a in msg.attachments}
    entries = payload.get("attachments")
    result: list[FakeAttachment] = []
    used: set[int] = set()

    def upload(index: int, entry: dict[str, Any]) -> FakeAttachment:
        up = uploads[index]
        used.add(index)
        name = entry.get("filename") or up.filename
        return fake.store_attachment(
            msg.channel_id, name, up.data, up.content_type, entry.get("description")
        )

    if entries is None:
        result = [] if creating else list(msg.attachments)
    else:
        for position, entry in enumerate(entries):
            ident = int(entry["id"])
            if ident in uploads and ident not in used:
                result.append(upload(ident, entry))
            elif ident in existing:
                result.append(existing[ident])
            else:
                errors = {
                    "attachments": {
                        str(position): {
                            "id": {
                                "_errors": [
                                    {
                                        "code": "ATTACHMENT_NOT_FOUND",
                                        "message": "Unknown attachment",
                                    }
                                ]
                            }
                        }
                    }
                }
                raise invalid_form(errors, [f"attachments.{position}.id: unknown id {ident}"])
    for index in sorted(set(uploads) - used):
        result.append(upload(index, {}))
    if len(result) > MAX_ATTACHMENTS:
        raise invalid_form(
            {"attachments": too_long(MAX_ATTACHMENTS)}, [f"{len(result)} attachments, at most 10"]
        )
    return result


def apply_payload(
    fake: FakeDiscord,
    msg: FakeMessage,
    payload: dict[str, Any],
    uploads: dict[int, Upload],
    *,
    creating: bool,
) -> None:
    """Apply a create or edit body to ``msg``; nothing changes if Discord would refuse it."""
    new = {
        "content": msg.content,
        "embeds": msg.embeds,
        "components": msg.components,
    }
    for key in new:
        if key in payload:
            new[key] = payload[key] or ("" if key == "content" else [])
    attachments = _new_attachments(fake, msg, payload, uploads, creating)
    has_body = new["content"] or new["embeds"] or new["components"] or attachments
    if not (has_body or payload.get("sticker_ids") or payload.get("poll")):
        raise DiscordError(400, 50006, "Cannot send an empty message")
    msg.content, msg.embeds, msg.components = new["content"], new["embeds"], new["components"]
    msg.attachments = attachments
    msg.allowed_mentions = payload.get("allowed_mentions")
    sent_flags = payload.get("flags")
    if creating:
        msg.flags = (sent_flags or 0) & _SENDABLE_FLAGS | (msg.flags & EPHEMERAL)
        msg.tts = bool(payload.get("tts"))
    else:
        if sent_flags is not None:
            keep = msg.flags & ~SUPPRESS_EMBEDS
            msg.flags = keep | (sent_flags & SUPPRESS_EMBEDS)
        msg.flags &= ~LOADING
        msg.edits += 1
        msg.edited_at = fake.now()
    msg.payloads.append(payload)
