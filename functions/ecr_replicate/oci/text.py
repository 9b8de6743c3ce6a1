"""Text from outside (a registry's answer) made safe to show: no character a terminal acts on.

A registry's error message, header or URL may carry terminal control sequences: ESC ``[2K`` to
erase a line, OSC 52 to write the operator's clipboard, C1 ``CSI`` (U+009B) where ESC is
filtered, or Unicode bidirectional overrides that make a line read differently from its bytes.
:func:`printable` shows each such character as a visible escape (``\\x1b``, ``\\u202e``), so
what reaches a log, a Step Functions cause or a terminal is inert text that still says what was
sent. Standard library only: the CLI's error path imports it on the way out.
"""

from __future__ import annotations

WHITESPACE = "\t\n\v\f\r"
#: bidirectional embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069)
BIDI_CONTROLS = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


_TABLE: dict[int, str] = {
    code: " " if chr(code) in WHITESPACE else _escape(code)
    for code in [*range(0x00, 0x20), *range(0x7F, 0xA0), *BIDI_CONTROLS]
}


def printable(text: str) -> str:
    """``text`` with every C0/C1 control character (DEL included) and bidi control shown as an
    escape; tabs and line breaks become spaces. Linear in the length of ``text``."""
    return text.translate(_TABLE)
