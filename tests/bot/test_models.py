"""The request model refuses bad input with a message a Discord user can act on."""

from __future__ import annotations

import pytest

from bot.errors import InvalidRequest
from bot.models import (
    MAX_REFERENCE_BYTES,
    GenerationRequest,
    OutputFormat,
    ReferenceImage,
    decode_base64,
)
from tests.fakes.providers.base import render


def refusal(**fields: object) -> InvalidRequest:
    fields.setdefault("prompt", "a cat")
    with pytest.raises(InvalidRequest) as caught:
        GenerationRequest.parse(**fields)
    return caught.value


def test_defaults_are_the_documented_ones() -> None:
    req = GenerationRequest.parse(prompt="  a cat  ")
    assert req.prompt == "a cat"
    assert req.aspect_ratio == "1:1"
    assert req.output_format is OutputFormat.JPEG
    assert (req.raw, req.seed, req.safety_tolerance, req.count) == (False, None, 2, 1)


@pytest.mark.parametrize(
    ("fields", "field", "allowed_part"),
    [
        ({"prompt": "   "}, "prompt", "1 to 2000 characters"),
        ({"prompt": "x" * 2001}, "prompt", "1 to 2000 characters"),
        ({"aspect_ratio": "7:5"}, "aspect_ratio", "21:9, 16:9"),
        ({"seed": -1}, "seed", "0 to 2147483647"),
        ({"seed": 2**31}, "seed", "0 to 2147483647"),
        ({"safety_tolerance": 7}, "safety_tolerance", "0 (strictest) to 6"),
        ({"count": 5}, "count", "1 to 4"),
        ({"count": 0}, "count", "1 to 4"),
        ({"output_format": "gif"}, "output_format", "jpeg or png"),
        ({"reference_strength": 1.5}, "reference_strength", "0 to 1"),
    ],
)
def test_each_bad_field_is_named_with_what_is_allowed(
    fields: dict[str, object], field: str, allowed_part: str
) -> None:
    error = refusal(**fields)
    assert error.field == field
    assert f"`{field}`" in error.user_message
    assert allowed_part in error.user_message


def test_unknown_option_is_refused() -> None:
    error = refusal(steps=50)
    assert error.field == "steps"
    assert "unknown option" in error.user_message


def test_reference_rules() -> None:
    png = render(8, 8, "png")
    assert (
        ReferenceImage(data=png, content_type="image/png")
        .data_uri()
        .startswith("data:image/png;base64,")
    )
    assert refusal(reference={"url": "ftp://x/y.png"}).field == "reference"
    assert (
        refusal(
            reference={"url": "https://x/y.png", "data": png, "content_type": "image/png"}
        ).field
        == "reference"
    )
    assert (
        "image/gif"
        in refusal(reference={"data": b"GIF89a", "content_type": "image/gif"}).user_message
    )
    big = b"\0" * (MAX_REFERENCE_BYTES + 1)
    assert "too large" in refusal(reference={"data": big, "content_type": "image/png"}).user_message


def test_request_round_trips_through_json_with_reference_bytes() -> None:
    png = render(8, 8, "png")
    req = GenerationRequest.parse(
        prompt="x", reference=ReferenceImage(data=png, content_type="image/png")
    )
    again = GenerationRequest.from_json(req.model_dump_json())
    assert again == req
    assert again.reference is not None
    assert again.reference.data == png


def test_decode_base64_accepts_bare_and_data_uri() -> None:
    assert decode_base64("aGk=") == b"hi"
    assert decode_base64("data:text/plain;base64,aGk=") == b"hi"
    with pytest.raises(ValueError, match="base64"):
        decode_base64("not base64!")
