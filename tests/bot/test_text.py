"""A member's text made inert for others: what is removed and what is kept."""

from __future__ import annotations

import pytest

from bot.text import inert


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("invoice \u202egpj.exe", "invoice gpj.exe"),  # right-to-left override
        ("a\u2066b\u2069c\u200ed\u200fe\u061cf", "abcdef"),  # isolates and direction marks
        ("zero\u200bwidth\u200c\u200djoin\u2060\ufeff", "zerowidthjoin"),
        ("tag\U000e0041\U000e007f", "tag"),
        ("soft\u00adhyphen", "softhyphen"),
        ("line\nbreak\r\ntab\tend\x00\x07", "line break tab end"),
        ("para\u2028graph\u2029sep", "para graph sep"),
        ("  spaced   out\u00a0\u3000 ", "spaced out"),
        ("Z\u0300\u0301\u0302\u0303\u0304\u0305algo", "Z\u0300\u0301algo"),
        ("café naïve Ελληνικά 日本語 🎨", "café naïve Ελληνικά 日本語 🎨"),
    ],
)
def test_hidden_and_reordering_characters_are_removed(typed: str, shown: str) -> None:
    assert inert(typed) == shown
