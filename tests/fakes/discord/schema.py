"""Request validation against Discord's OpenAPI description, answered the way Discord answers.

The official description (discord/discord-api-spec, ``specs/openapi.json``, MIT, see
``openapi.LICENSE``) is 1.2 MB; ``openapi_subset.json`` next to this file holds, verbatim, the
operations the fake serves and every component they reach. Regenerate it with::

    python -m tests.fakes.discord.schema /path/to/discord-openapi.json

OpenAPI 3.1 schemas are JSON Schema 2020-12, validated with ``jsonschema`` and ``referencing``.
Where the description is stricter than the live API (and than what discord.py sends), the
loaded copy is patched; each patch is listed in ``QUIRKS``.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SUBSET = Path(__file__).with_name("openapi_subset.json")
BASE_URI = "urn:discord:openapi"
SOURCE = "discord/discord-api-spec specs/openapi.json @ 74fda0fad044 (MIT)"

# The operations the fake serves: their request bodies are validated, their answers self-checked.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "/interactions/{interaction_id}/{interaction_token}/callback": ("post",),
    "/webhooks/{webhook_id}/{webhook_token}": ("post",),
    "/webhooks/{webhook_id}/{webhook_token}/messages/@original": ("get", "patch", "delete"),
    "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}": ("get", "patch", "delete"),
    "/channels/{channel_id}": ("get",),
    "/channels/{channel_id}/messages": ("post",),
    "/channels/{channel_id}/messages/{message_id}": ("get", "patch", "delete"),
    "/applications/{application_id}/commands": ("get", "put"),
    "/applications/{application_id}/guilds/{guild_id}/commands": ("get", "put"),
    "/users/@me": ("get",),
    "/oauth2/applications/@me": ("get",),
}

QUIRKS = (
    "SnowflakeType is a digit string in the description, but Discord also takes JSON integers "
    "(discord.py sends attachment ids as ints 0..9 and message_reference ids as ints)",
    "default_member_permissions is an integer in ApplicationCommandUpdateRequest, while Discord's "
    "reference documents a string bit set: both are accepted (discord.py 2.7 sends an integer)",
)

_WEAK_TYPES = {"type", "enum", "const"}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def build_subset(full: dict[str, Any]) -> dict[str, Any]:
    """The served operations (request body and 2xx answers) plus every component they reach."""
    paths: dict[str, Any] = {}
    for path, methods in OPERATIONS.items():
        for method in methods:
            op = full["paths"][path][method]
            kept = {"operationId": op["operationId"]}
            if "requestBody" in op:
                kept["requestBody"] = op["requestBody"]
            kept["responses"] = {k: v for k, v in op["responses"].items() if k.startswith("2")}
            paths.setdefault(path, {})[method] = kept
    components: dict[str, dict[str, Any]] = {}
    pending = list(_refs(paths))
    while pending:
        ref = pending.pop()
        _, section, kind, name = ref.split("/")
        if name in components.get(kind, {}):
            continue
        node = full[section][kind][name]
        components.setdefault(kind, {})[name] = node
        pending.extend(_refs(node))
    return {
        "openapi": full["openapi"],
        "info": {**full["info"], "x-subset-of": SOURCE},
        "paths": paths,
        "components": {k: dict(sorted(v.items())) for k, v in sorted(components.items())},
    }


def _patched(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    schemas = doc["components"]["schemas"]
    snowflake = schemas["SnowflakeType"]
    schemas["SnowflakeType"] = {"anyOf": [snowflake, {"type": "integer", "minimum": 0}]}
    perms = schemas["ApplicationCommandUpdateRequest"]["properties"]["default_member_permissions"]
    perms["type"] = ["integer", "string", "null"]
    perms["pattern"] = "^[0-9]+$"
    return doc


class OpenAPI:
    """The vendored description, patched, with one validator per served request body."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = _patched(doc)
        resource = Resource.from_contents(self.doc, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(BASE_URI, resource)
        self._validators: dict[str, Draft202012Validator] = {}

    def validator(self, pointer: str) -> Draft202012Validator:
        """A validator for the schema at a JSON pointer into the description."""
        if pointer not in self._validators:
            ref = {"$ref": f"{BASE_URI}#{_quote(pointer)}"}
            self._validators[pointer] = Draft202012Validator(ref, registry=self.registry)
        return self._validators[pointer]

    def locales(self) -> set[str]:
        """The locales Discord knows (``AvailableLocalesEnum``)."""
        enum = self.doc["components"]["schemas"]["AvailableLocalesEnum"]
        return {choice["const"] for choice in enum["oneOf"]}

    def request_errors(self, path: str, method: str, body: Any) -> tuple[dict[str, Any], list[str]]:
        """Discord's ``errors`` object for a request body and one readable line per error."""
        pointer = _pointer("paths", path, method, "requestBody", "content", "application/json")
        return discord_errors(self.validator(pointer + "/schema").iter_errors(body))

    def schema_errors(self, name: str, instance: Any) -> list[str]:
        """Readable errors of ``instance`` against ``components/schemas/<name>`` (self-checks)."""
        validator = self.validator(_pointer("components", "schemas", name))
        return [_describe(e) for e in _leaves(validator.iter_errors(instance))]

    def response_errors(self, path: str, method: str, status: int, body: Any) -> list[str]:
        """Readable errors of an answer against the operation's documented answer schema."""
        pointer = _pointer("paths", path, method, "responses", str(status), "content")
        pointer += "/application~1json/schema"
        return [_describe(e) for e in _leaves(self.validator(pointer).iter_errors(body))]


@cache
def openapi() -> OpenAPI:
    """The shared, lazily loaded description."""
    return OpenAPI(json.loads(SUBSET.read_text(encoding="utf-8")))


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def _quote(pointer: str) -> str:
    return pointer.replace("%", "%25").replace("{", "%7B").replace("}", "%7D").replace("@", "%40")


def _branches(error: ValidationError) -> list[list[ValidationError]]:
    """The failing alternatives of an anyOf/oneOf, minus those whose discriminator did not match."""
    groups: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        groups.setdefault(int(sub.schema_path[0]), []).append(sub)
    plausible = []
    for errors in groups.values():
        mismatched = any(
            e.validator in _WEAK_TYPES
            and (not e.relative_path or list(e.relative_path) == ["type"])
            for e in errors
        )
        if not mismatched:
            plausible.append(errors)
    return plausible


def _leaves(errors: Iterator[ValidationError]) -> Iterator[ValidationError]:
    """The most specific errors: descend into the one plausible branch of each union."""
    for error in errors:
        if error.validator in ("anyOf", "oneOf"):
            branches = _branches(error)
            if len(branches) >= 1:
                yield from _leaves(iter(min(branches, key=len)))
                continue
        yield error


def _code(error: ValidationError) -> tuple[str, str]:
    kind, value = error.validator, error.validator_value
    if kind == "required":
        return "BASE_TYPE_REQUIRED", "This field is required"
    if kind in ("maxLength", "maxItems"):
        return "BASE_TYPE_MAX_LENGTH", f"Must be {value} or fewer in length."
    if kind in ("minLength", "minItems"):
        return "BASE_TYPE_MIN_LENGTH", f"Must be {value} or more in length."
    if kind == "maximum":
        return "NUMBER_TYPE_MAX", f"int value should be less than or equal to {value}."
    if kind == "minimum":
        return "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {value}."
    if kind in ("enum", "const"):
        return "BASE_TYPE_CHOICES", f"Value must be one of {value}."
    if kind == "type":
        return "BASE_TYPE_BAD_TYPE", f"Must be of type {value}."
    return "BASE_TYPE_INVALID", error.message


def _describe(error: ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "(body)"
    return f"{where}: {error.message[:200]}"


def discord_errors(errors: Iterator[ValidationError]) -> tuple[dict[str, Any], list[str]]:
    """Nest errors by field path the way Discord's 50035 answers do (empty when valid)."""
    tree: dict[str, Any] = {}
    lines: list[str] = []
    for error in _leaves(errors):
        lines.append(_describe(error))
        path = [str(p) for p in error.absolute_path]
        if error.validator == "required":
            missing = [f for f in error.validator_value if f not in (error.instance or {})]
            path.append(missing[0] if missing else "?")
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        code, message = _code(error)
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return tree, lines


if __name__ == "__main__":  # pragma: no cover - regeneration helper
    source = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    SUBSET.write_text(json.dumps(build_subset(source), separators=(",", ":")) + "\n")
    print(f"wrote {SUBSET} ({SUBSET.stat().st_size} bytes)")
