"""Registry text made inert for a terminal: every control character shown as an escape."""

from __future__ import annotations

import unicodedata

import pytest

from ecr_replicate.oci.answers import scrub
from ecr_replicate.oci.text import printable
from ecr_replicate_cli.exits import one_line

BIDI_CONTROLS = {"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}


def acted_on(text: str) -> list[str]:
    """Characters a terminal would act on: C0/C1 controls and bidirectional controls."""
    return [
        repr(c)
        for c in text
        if unicodedata.category(c) == "Cc" or unicodedata.bidirectional(c) in BIDI_CONTROLS
    ]


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("\x1b[2Kok", "\\x1b[2Kok"),  # ESC: erase the line
        ("\x9b31m", "\\x9b31m"),  # C1 CSI, for terminals that filter ESC only
        ("\x1b]52;c;aGk=\x07", "\\x1b]52;c;aGk=\\x07"),  # OSC 52: write the clipboard
        ("a\x7fb", "a\\x7fb"),
        ("admin\u202etxt.exe", "admin\\u202etxt.exe"),  # right-to-left override
        ("one\ttwo\r\nthree", "one two  three"),
        ("plain ü and 日本", "plain ü and 日本"),
    ],
)
def test_printable_escapes_what_a_terminal_acts_on(sent: str, shown: str) -> None:
    assert printable(sent) == shown
    assert acted_on(printable(sent)) == []


def test_scrub_and_one_line_keep_no_control_character() -> None:
    every = "".join(chr(c) for c in range(0x00, 0xA0)) + "\u2066\u2069"
    assert acted_on(scrub(every)) == []
    assert acted_on(one_line(every)) == []
    assert "\n" not in one_line("two\nlines")
