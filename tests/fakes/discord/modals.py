"""Modals and message context menus, as Discord's API describes them.

A modal is an interaction callback of type 9 (``ModalInteractionCallbackRequestData``:
``custom_id``, ``title``, ``components`` of labels (type 18) wrapping one text input (4) or
string select (3), or legacy action rows (1) holding one text input). Submitting it is a
new interaction of type 5 (MODAL_SUBMIT) whose ``data`` has the modal's ``custom_id`` and
``components`` mirroring the modal, each input with the member's ``value`` (text input) or
``values`` (select). Discord's client refuses to submit a required input left empty, a text
shorter than ``min_length`` or longer than ``max_length``, or a choice not among the options;
``modal_submit_data`` raises ValueError for each, as the member could not send it.

A message context-menu command (application command type 3) is an interaction of type 2
whose ``data`` has ``type: 3``, ``target_id`` and the message in ``resolved.messages``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .render import message_json

if TYPE_CHECKING:
    from .models import FakeChannel, FakeGuild, FakeInteraction, FakeMessage
    from .server import FakeDiscord

ACTION_ROW, STRING_SELECT, TEXT_INPUT, LABEL = 1, 3, 4, 18
MESSAGE_COMMAND = 3


def modal_inputs(modal: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every input of a modal (as the bot sent it) by custom_id."""
    found: dict[str, dict[str, Any]] = {}
    for node in modal["components"]:
        if node["type"] == LABEL:
            found[node["component"]["custom_id"]] = node["component"]
        elif node["type"] == ACTION_ROW:
            for child in node["components"]:
                found[child["custom_id"]] = child
    return found


def prefilled(modal: dict[str, Any]) -> dict[str, str | list[str]]:
    """What the member sees in each input before typing: text values, selected options."""
    shown: dict[str, str | list[str]] = {}
    for custom_id, node in modal_inputs(modal).items():
        if node["type"] == TEXT_INPUT:
            shown[custom_id] = node.get("value") or ""
        else:
            shown[custom_id] = [o["value"] for o in node.get("options", []) if o.get("default")]
    return shown


def _answer(node: dict[str, Any], given: Any, counter: int) -> dict[str, Any]:
    custom_id = node["custom_id"]
    if node["type"] == TEXT_INPUT:
        value = node.get("value") or "" if given is None else str(given)
        if node.get("required", True) and not value:
            raise ValueError(f"modal input {custom_id!r} is required")
        low, high = node.get("min_length") or 0, node.get("max_length") or 4000
        if value and not low <= len(value) <= high:
            raise ValueError(f"modal input {custom_id!r}: {len(value)} characters, {low}..{high}")
        return {"type": TEXT_INPUT, "id": counter, "custom_id": custom_id, "value": value}
    options = [o["value"] for o in node.get("options", [])]
    if given is None:
        values = [o["value"] for o in node.get("options", []) if o.get("default")]
    else:
        values = [given] if isinstance(given, str) else list(given)
    for value in values:
        if value not in options:
            raise ValueError(f"modal select {custom_id!r} has no option {value!r}")
    low = node.get("min_values", 1)
    if node.get("required", True) and len(values) < max(1, low or 0):
        raise ValueError(f"modal select {custom_id!r} needs a choice")
    return {"type": STRING_SELECT, "id": counter, "custom_id": custom_id, "values": values}


def modal_submit_data(modal: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` of the MODAL_SUBMIT for ``modal`` with the member's ``values`` (by custom_id;
    inputs not given keep what was pre-filled)."""
    known = modal_inputs(modal)
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"the modal has no input {sorted(unknown)} (it has {sorted(known)})")
    counter = 0
    components: list[dict[str, Any]] = []
    for node in modal["components"]:
        counter += 1
        if node["type"] == LABEL:
            inner = node["component"]
            answer = _answer(inner, values.get(inner["custom_id"]), counter + 1)
            components.append({"type": LABEL, "id": counter, "component": answer})
            counter += 1
        elif node["type"] == ACTION_ROW:
            row = []
            for child in node["components"]:
                counter += 1
                row.append(_answer(child, values.get(child["custom_id"]), counter))
            components.append({"type": ACTION_ROW, "id": counter, "components": row})
    return {"custom_id": modal["custom_id"], "components": components}


def find_message_command(
    fake: FakeDiscord, guild: FakeGuild, name: str
) -> tuple[dict[str, Any], int | None]:
    """The registered message command ``name``: the guild's own first, then the global one."""
    for scope in (guild.id, None):
        for command in fake.commands.get(scope, []):
            if command["name"] == name and command.get("type") == MESSAGE_COMMAND:
                return command, scope
    raise ValueError(f"no message command {name!r} is registered")


def message_command_data(
    fake: FakeDiscord, guild: FakeGuild, name: str, target: FakeMessage
) -> dict[str, Any]:
    """``data`` of an INTERACTION_CREATE for the message command ``name`` on ``target``."""
    command, scope = find_message_command(fake, guild, name)
    data: dict[str, Any] = {
        "id": command["id"],
        "name": name,
        "type": MESSAGE_COMMAND,
        "target_id": str(target.id),
        "resolved": {"messages": {str(target.id): message_json(fake, target)}},
    }
    if scope is not None:
        data["guild_id"] = str(scope)
    return data


class MemberActions:
    """What a member does beyond typing commands and clicking: submit a modal, run a message
    command, post a message of their own. Mixed into ``FakeDiscord``."""

    async def submit_modal(
        self: Any,
        opened: FakeInteraction,
        values: Mapping[str, Any] | None = None,
        *,
        user_id: int | None = None,
    ) -> FakeInteraction:
        """The member fills in the modal ``opened`` answered with and submits it: an
        INTERACTION_CREATE of type 5 (the member who opened it, unless ``user_id``)."""
        if opened.response_type != 9 or opened.modal is None:
            raise ValueError(f"interaction {opened.id} was not answered with a modal")
        data = modal_submit_data(opened.modal, values or {})
        user = opened.user_id if user_id is None else user_id
        return await self._interact(5, opened.guild, opened.channel, user, data, opened.message)

    async def message_command(
        self: Any, name: str, target: FakeMessage, *, user_id: int
    ) -> FakeInteraction:
        """A member runs the message command ``name`` (Apps → name) on ``target``."""
        if target.deleted:
            raise ValueError(f"message {target.id} was deleted")
        channel = self.channels[target.channel_id]
        data = message_command_data(self, channel.guild, name, target)
        return await self._interact(2, channel.guild, channel, user_id, data, None)

    async def post_as(
        self: Any,
        user_id: int,
        channel: FakeChannel,
        content: str = "",
        *,
        files: Sequence[tuple[str, bytes, str]] = (),
        embeds: Sequence[dict[str, Any]] = (),
    ) -> FakeMessage:
        """A member posts a message (with files uploaded to the CDN, and embeds)."""
        msg = self.new_message(channel, via="user", type=0)
        msg.author_id, msg.webhook_id = user_id, None
        msg.content, msg.embeds = content, list(embeds)
        msg.attachments = [
            self.store_attachment(channel.id, name, data, ctype) for name, data, ctype in files
        ]
        await self.add_message(msg)
        return msg

    async def choose(
        self: Any, message: FakeMessage, custom_id: str, values: Sequence[str], *, user_id: int
    ) -> FakeInteraction:
        """A member picks ``values`` in the string select ``custom_id`` of ``message``:
        INTERACTION_CREATE type 3 with ``component_type: 3`` and the chosen ``values``."""
        select = _component(message.components, custom_id)
        if select is None or select.get("type") != STRING_SELECT:
            raise ValueError(f"message {message.id} has no select {custom_id!r}")
        offered = {o["value"] for o in select.get("options", [])}
        if not set(values) <= offered:
            raise ValueError(f"select {custom_id!r} offers {sorted(offered)}, not {values}")
        channel = self.channels[message.channel_id]
        data = {"custom_id": custom_id, "component_type": STRING_SELECT, "values": list(values)}
        return await self._interact(3, channel.guild, channel, user_id, data, message)


def _component(nodes: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    for node in nodes:
        if node.get("custom_id") == custom_id:
            return node
        found = _component(node.get("components") or [], custom_id)
        if found is not None:
            return found
    return None
