"""Interaction routes: the callback (3-second deadline, one answer) and the token's webhook.

The interaction token authorises ``/webhooks/{application_id}/{token}`` (followups) and
``/webhooks/{application_id}/{token}/messages/{@original|id}`` for 15 minutes on the fake clock.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiohttp import web

from .bodies import Body, DiscordError, apply_payload, check_upload_sizes, read_body
from .models import (
    ACK_DEADLINE,
    EPHEMERAL,
    LOADING,
    TOKEN_LIFETIME,
    CallbackAttempt,
    FakeInteraction,
    FakeMessage,
)
from .render import callback_json, message_json
from .rest import API, guarded, json_response, snowflake, validated

if TYPE_CHECKING:
    from .server import FakeDiscord

CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"
EXECUTE = "/webhooks/{webhook_id}/{webhook_token}"
ORIGINAL = "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
MESSAGE = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
# Callback types each interaction type may answer with (9 is a modal; a modal's submit
# cannot open another, and updates a message only when the modal came from one).
ALLOWED_CALLBACKS = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 5: {4, 5, 6, 7}}


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true")


class InteractionRoutes:
    """``/interactions/.../callback`` and the interaction webhook."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    def add_to(self, app: web.Application) -> None:
        g = lambda h: guarded(self.fake, h)  # noqa: E731
        callback = f"{API}/interactions/{{interaction_id}}/{{token}}/callback"
        app.router.add_post(callback, g(self.callback))
        app.router.add_post(f"{API}/webhooks/{{application_id}}/{{token}}", g(self.execute))
        message = f"{API}/webhooks/{{application_id}}/{{token}}/messages/{{message_id}}"
        app.router.add_get(message, g(self.get_message))
        app.router.add_patch(message, g(self.edit_message))
        app.router.add_delete(message, g(self.delete_message))

    async def callback(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        fake = self.fake
        inter = fake.interactions.get(snowflake(request, "interaction_id"))
        if inter is None or inter.token != request.match_info["token"]:
            raise DiscordError(404, 10062, "Unknown interaction", reason="no such id and token")
        delay = arrived - inter.dispatched
        body = await read_body(request)
        sent_type = body.payload.get("type") if isinstance(body.payload, dict) else None
        attempt = CallbackAttempt(delay, 200, sent_type)
        inter.callbacks.append(attempt)
        try:
            message = await self._answer(inter, body, delay)
        except DiscordError as exc:
            attempt.status = exc.status
            raise
        fake.bump()
        if not _flag(request, "with_response"):
            return web.Response(status=204)
        return json_response(callback_json(fake, inter, message))

    async def _answer(self, inter: FakeInteraction, body: Body, delay: float) -> FakeMessage | None:
        fake = self.fake
        if delay > ACK_DEADLINE:
            raise DiscordError(
                404, 10062, "Unknown interaction",
                reason=f"interaction {inter.id} answered {delay:.2f} s after dispatch (limit 3 s)",
            )  # fmt: skip
        if inter.acked:
            raise DiscordError(
                400, 40060, "Interaction has already been acknowledged.",
                reason=f"interaction {inter.id} answered twice (first with type "
                f"{inter.response_type})",
            )  # fmt: skip
        check_upload_sizes(body.uploads, inter.guild.attachment_size_limit)
        payload = validated(CALLBACK, "post", body, schemas=self.fake.check_schemas)
        kind = payload["type"]
        if kind not in ALLOWED_CALLBACKS[inter.type]:
            error = {"code": "INTERACTION_RESPONSE_TYPE_INVALID", "message": "Invalid type"}
            raise DiscordError(
                400, 50035, "Invalid Form Body", errors={"type": {"_errors": [error]}},
                reason=f"callback type {kind} is not valid for interaction type {inter.type}",
            )  # fmt: skip
        data = payload.get("data") or {}
        message: FakeMessage | None = None
        if kind in (4, 5):
            message = fake.new_message(
                inter.channel, via="interaction", type=20 if inter.type == 2 else 0, inter=inter
            )
            message.flags = (data.get("flags") or 0) & EPHEMERAL
            if kind == 4:
                apply_payload(fake, message, data, body.uploads, creating=True)
            else:
                message.flags |= LOADING
                message.payloads.append(payload)
        elif kind in (6, 7):
            message = inter.message
            if message is None:
                raise DiscordError(
                    400, 40094, "This interaction has no message to update",
                    reason=f"callback type {kind} for a modal not opened from a message",
                )  # fmt: skip
            if kind == 7:
                apply_payload(fake, message, data, body.uploads, creating=False)
        if kind == 9:
            inter.modal = data
        inter.response_type, inter.ack_delay, inter.original = kind, delay, message
        inter._acked.set()
        if kind in (4, 5):
            await fake.add_message(message)
        elif kind == 7:
            await fake.message_changed(message)
        return message

    def interaction(self, request: web.Request) -> FakeInteraction:
        """The interaction of the token in the path; unknown, expired or unanswered → error."""
        fake = self.fake
        inter = fake.by_token.get(request.match_info["token"])
        if inter is None or snowflake(request, "application_id") != fake.application_id:
            raise DiscordError(404, 10015, "Unknown Webhook", reason="no such webhook or token")
        age = fake.now() - inter.created_at
        if age > TOKEN_LIFETIME:
            raise DiscordError(
                401, 50027, "Invalid Webhook Token",
                reason=f"interaction {inter.id} token used {age:.0f} s after it was created "
                f"(lives {TOKEN_LIFETIME:.0f} s)",
            )  # fmt: skip
        if not inter.acked:
            raise DiscordError(
                404, 10015, "Unknown Webhook",
                reason=f"interaction {inter.id} was never acknowledged",
            )  # fmt: skip
        return inter

    def message(self, request: web.Request) -> tuple[FakeInteraction, FakeMessage, str]:
        inter = self.interaction(request)
        ident = request.match_info["message_id"]
        if ident == "@original":
            msg, spec = inter.original, ORIGINAL
        else:
            known = [m for m in (inter.original, *inter.followups) if m is not None]
            msg = next((m for m in known if str(m.id) == ident), None)
            spec = MESSAGE
        if msg is None or msg.deleted:
            raise DiscordError(404, 10008, "Unknown Message")
        return inter, msg, spec

    async def execute(self, request: web.Request) -> web.Response:
        fake = self.fake
        inter = self.interaction(request)
        body = await read_body(request)
        check_upload_sizes(body.uploads, inter.guild.attachment_size_limit)
        payload = validated(EXECUTE, "post", body, schemas=self.fake.check_schemas)
        original = inter.original
        if original is not None and original.loading and not original.deleted:
            # The first followup after a deferred answer fills the loading message, and keeps
            # its visibility (the followup's ephemeral flag is ignored).
            apply_payload(fake, original, payload, body.uploads, creating=False)
            msg = original
            inter.followups.append(msg)
            await fake.message_changed(msg)
        else:
            msg = fake.new_message(inter.channel, via="webhook", type=0, inter=inter)
            msg.type = 20 if inter.type == 2 else 0
            apply_payload(fake, msg, payload, body.uploads, creating=True)
            inter.followups.append(msg)
            await fake.add_message(msg)
        if not _flag(request, "wait"):
            return web.Response(status=204)
        return json_response(message_json(fake, msg))

    async def get_message(self, request: web.Request) -> web.Response:
        _, msg, _ = self.message(request)
        return json_response(message_json(self.fake, msg))

    async def edit_message(self, request: web.Request) -> web.Response:
        inter, msg, spec = self.message(request)
        body = await read_body(request)
        check_upload_sizes(body.uploads, inter.guild.attachment_size_limit)
        payload = validated(spec, "patch", body, schemas=self.fake.check_schemas)
        apply_payload(self.fake, msg, payload, body.uploads, creating=False)
        await self.fake.message_changed(msg)
        return json_response(message_json(self.fake, msg))

    async def delete_message(self, request: web.Request) -> web.Response:
        _, msg, _ = self.message(request)
        await self.fake.delete_message(msg)
        return web.Response(status=204)
