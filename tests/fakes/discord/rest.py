"""REST routes used with the bot token: login, channels and their messages, commands, the CDN."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .bodies import (
    Body,
    DiscordError,
    apply_payload,
    check_upload_sizes,
    count_errors,
    invalid_form,
    read_body,
)
from .commands import localization_errors
from .models import EPHEMERAL, FakeChannel, FakeMessage
from .render import channel_json, message_json, user_json
from .schema import openapi

if TYPE_CHECKING:
    from .server import FakeDiscord

API = "/api/v10"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON with Content-Type exactly ``application/json``, which discord.py insists on."""
    body = json.dumps(data).encode()
    return web.Response(status=status, body=body, headers={"Content-Type": "application/json"})


def label(request: web.Request) -> str:
    path = request.path
    token = request.match_info.get("token")
    if token:
        path = path.replace(token, "{token}")
    return f"{request.method} {path}"


def guarded(fake: FakeDiscord, handler: Handler) -> Handler:
    """Turn a DiscordError into Discord's answer, and record it in ``fake.violations``."""

    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except DiscordError as exc:
            fake.violate(label(request), f"{exc.status} {exc.code} {exc.message}: {exc.reason}")
            return json_response(exc.json(), exc.status)

    return run


def snowflake(request: web.Request, key: str) -> int:
    """A snowflake from the path; Discord answers 50035 to anything else."""
    value = request.match_info[key]
    if value.isdigit():
        return int(value)
    error = {"code": "NUMBER_TYPE_COERCE", "message": f'Value "{value}" is not snowflake.'}
    raise invalid_form({key: {"_errors": [error]}}, [f"{key}: {value!r} is not a snowflake"])


def validated(spec_path: str, method: str, body: Body, *, schemas: bool = True) -> dict[str, Any]:
    """The body's JSON payload, checked against the operation's request schema and file count.

    ``schemas=False`` skips the OpenAPI check (benchmarks: it would measure the fake)."""
    payload = {} if body.payload is None and body.multipart else body.payload
    errors, lines = openapi().request_errors(spec_path, method, payload) if schemas else ({}, [])
    more_errors, more_lines = count_errors(body.uploads)
    errors.update(more_errors)
    if lines or more_lines:
        raise invalid_form(errors, lines + more_lines)
    return payload


class BotRoutes:
    """Routes authorised with ``Authorization: Bot <token>``."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    def add_to(self, app: web.Application) -> None:
        g = lambda h: guarded(self.fake, h)  # noqa: E731
        app.router.add_get(f"{API}/users/@me", g(self.me))
        app.router.add_get(f"{API}/oauth2/applications/@me", g(self.application))
        app.router.add_get(f"{API}/gateway", g(self.gateway))
        app.router.add_get(f"{API}/gateway/bot", g(self.gateway))
        app.router.add_get(f"{API}/channels/{{channel_id}}", g(self.get_channel))
        app.router.add_post(f"{API}/channels/{{channel_id}}/messages", g(self.create_message))
        message = f"{API}/channels/{{channel_id}}/messages/{{message_id}}"
        app.router.add_get(message, g(self.get_message))
        app.router.add_patch(message, g(self.edit_message))
        app.router.add_delete(message, g(self.delete_message))
        for path in ("commands", "guilds/{guild_id}/commands"):
            route = f"{API}/applications/{{application_id}}/{path}"
            app.router.add_get(route, g(self.list_commands))
            app.router.add_put(route, g(self.put_commands))
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self.cdn)

    def auth(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bot {self.fake.token}":
            raise DiscordError(401, 0, "401: Unauthorized", reason="missing or wrong bot token")

    async def me(self, request: web.Request) -> web.Response:
        self.auth(request)
        return json_response(self.fake.bot_user_json())

    async def application(self, request: web.Request) -> web.Response:
        self.auth(request)
        fake = self.fake
        return json_response(
            {
                "id": str(fake.application_id),
                "name": fake.bot_name,
                "icon": None,
                "description": "",
                "type": None,
                "bot": fake.bot_user_json(),
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": user_json(fake.app_owner_id, "owner"),
                "verify_key": "0" * 64,
                "flags": fake.application_flags,
                "flags_new": str(fake.application_flags),
                "summary": "",
                "team": None,
                "tags": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "role_connections_verification_url": None,
                "approximate_guild_count": len(fake.guilds),
                "approximate_user_install_count": 0,
                "approximate_user_authorization_count": 0,
                "explicit_content_filter": 0,
                "eligible_oauth2_scopes": ["bot", "applications.commands"],
                "integration_types_config": {"0": {}},
            }
        )

    async def gateway(self, request: web.Request) -> web.Response:
        data: dict[str, Any] = {"url": str(self.fake.gateway)}
        if request.path.endswith("/bot"):
            self.auth(request)
            data["shards"] = 1
            data["session_start_limit"] = {
                "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1,
            }  # fmt: skip
        return json_response(data)

    def channel(self, request: web.Request) -> FakeChannel:
        self.auth(request)
        channel = self.fake.channels.get(snowflake(request, "channel_id"))
        if channel is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        return channel

    def message(self, request: web.Request) -> tuple[FakeChannel, FakeMessage]:
        channel = self.channel(request)
        msg = self.fake.find_message(snowflake(request, "message_id"))
        if msg is None or msg.deleted or msg.ephemeral or msg.channel_id != channel.id:
            raise DiscordError(404, 10008, "Unknown Message")
        return channel, msg

    async def get_channel(self, request: web.Request) -> web.Response:
        return json_response(channel_json(self.channel(request)))

    async def create_message(self, request: web.Request) -> web.Response:
        fake = self.fake
        if fake.dms.owns(request.match_info["channel_id"]):
            return await fake.dms.send(request)
        channel = self.channel(request)
        body = await read_body(request)
        check_upload_sizes(body.uploads, channel.guild.attachment_size_limit)
        payload = validated(
            "/channels/{channel_id}/messages", "post", body, schemas=self.fake.check_schemas
        )
        nonce = payload.get("nonce")
        if nonce is not None and payload.get("enforce_nonce"):
            for earlier in fake.messages(channel):
                if earlier.nonce == nonce and earlier.author_id == fake.bot_user_id:
                    return json_response(message_json(fake, earlier))
        reference = self._reference(channel, payload.get("message_reference"))
        msg = fake.new_message(channel, via="bot", type=19 if reference else 0)
        apply_payload(fake, msg, payload, body.uploads, creating=True)
        msg.flags &= ~EPHEMERAL
        msg.nonce, msg.message_reference = nonce, reference
        await fake.add_message(msg)
        return json_response(message_json(fake, msg))

    def _reference(self, channel: FakeChannel, ref: dict[str, Any] | None) -> dict | None:
        if not ref:
            return None
        target = self.fake.find_message(int(ref["message_id"]))
        if target is None or target.deleted or target.ephemeral:
            if ref.get("fail_if_not_exists") is False:
                return None
            error = {"code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "message": "Unknown message"}
            raise invalid_form(
                {"message_reference": {"_errors": [error]}},
                [f"message_reference: no message {ref['message_id']}"],
            )
        return {
            "type": ref.get("type") or 0,
            "channel_id": str(target.channel_id),
            "message_id": str(target.id),
            "guild_id": str(channel.guild.id),
        }

    async def get_message(self, request: web.Request) -> web.Response:
        _, msg = self.message(request)
        return json_response(message_json(self.fake, msg))

    async def edit_message(self, request: web.Request) -> web.Response:
        channel, msg = self.message(request)
        if msg.author_id != self.fake.bot_user_id:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        body = await read_body(request)
        check_upload_sizes(body.uploads, channel.guild.attachment_size_limit)
        payload = validated(
            "/channels/{channel_id}/messages/{message_id}",
            "patch",
            body,
            schemas=self.fake.check_schemas,
        )
        apply_payload(self.fake, msg, payload, body.uploads, creating=False)
        await self.fake.message_changed(msg)
        return json_response(message_json(self.fake, msg))

    async def delete_message(self, request: web.Request) -> web.Response:
        _, msg = self.message(request)
        await self.fake.delete_message(msg)
        return web.Response(status=204)

    def _command_scope(self, request: web.Request) -> int | None:
        self.auth(request)
        if snowflake(request, "application_id") != self.fake.application_id:
            raise DiscordError(403, 50001, "Missing Access", reason="another application's id")
        if "guild_id" not in request.match_info:
            return None
        guild_id = snowflake(request, "guild_id")
        if guild_id not in self.fake.guilds:
            raise DiscordError(404, 10004, "Unknown Guild")
        return guild_id

    async def list_commands(self, request: web.Request) -> web.Response:
        return json_response(self.fake.commands.get(self._command_scope(request), []))

    async def put_commands(self, request: web.Request) -> web.Response:
        fake = self.fake
        scope = self._command_scope(request)
        body = await read_body(request)
        path = "/applications/{application_id}/commands"
        if scope is not None:
            path = "/applications/{application_id}/guilds/{guild_id}/commands"
        payload = validated(path, "put", body, schemas=self.fake.check_schemas) or []
        problems = localization_errors(payload, openapi().locales())
        if problems:
            error = {"code": "APPLICATION_COMMAND_INVALID_LOCALIZATION", "message": problems[0]}
            raise invalid_form({"_errors": [error]}, problems)
        seen: set[tuple[str, int]] = set()
        stored = []
        previous = {(c["name"], c["type"]): c for c in fake.commands.get(scope, [])}
        for position, command in enumerate(payload):
            key = (command["name"], command.get("type") or 1)
            if key in seen:
                error = {"code": "APPLICATION_COMMANDS_DUPLICATE_NAME", "message": "Duplicate"}
                raise invalid_form(
                    {str(position): {"name": {"_errors": [error]}}},
                    [f"{position}.name: duplicate command {key[0]!r}"],
                )
            seen.add(key)
            old = previous.get(key)
            stored.append(fake.command_json(command, scope, old["id"] if old else None))
        fake.commands[scope] = stored
        fake.command_syncs += 1
        fake.bump()
        return json_response(stored)

    async def cdn(self, request: web.Request) -> web.Response:
        ident = request.match_info["attachment_id"]
        attachment = self.fake.attachments.get(int(ident)) if ident.isdigit() else None
        if attachment is None or attachment.filename != request.match_info["filename"]:
            return web.Response(status=404, text="This content is no longer available.")
        return web.Response(body=attachment.data, headers={"Content-Type": attachment.content_type})


async def not_served(fake: FakeDiscord, request: web.Request) -> web.Response:
    """Anything else under /api/v10: 404 as Discord says it, and a violation to notice."""
    fake.violate(label(request), "404 0 route not served by the fake Discord")
    return json_response({"message": "404: Not Found", "code": 0}, 404)
