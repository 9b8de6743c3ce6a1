"""The ``--repository`` and ``--tag`` globs of ``verify`` and ``backfill``, checked before any call.

A glob (``fnmatch``, case-sensitive) holds the characters of the names it selects and the glob
characters ``* ? [ ] !``. One with any other character outside a ``[...]`` class can match no
ECR repository name (lowercase letters, digits, ``. _ - /``) or tag (letters, digits, ``. _ -``):
a typing error, refused as one (exit 2) rather than reported as "0 images, in sync".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ecr_replicate.errors import InvalidInputError

_CLASS = re.compile(r"\[!?\]?[^\]]*\]")  # a [...] class: whatever it holds, it may match a valid character
_REPOSITORY_CHARS = re.compile(r"[a-z0-9._/\-*?]*")
_TAG_CHARS = re.compile(r"[A-Za-z0-9._\-*?]*")
MAX_PATTERN = 300  # longer than any repository name (256) with room for glob characters
_ALLOWED = {
    "repository": "lowercase letters, digits, '.', '_', '-' and '/'",
    "tag": "letters, digits, '.', '_' and '-'",
}


def _check(option: str, patterns: Sequence[str], allowed: re.Pattern[str], what: str) -> list[str]:
    for pattern in patterns:
        outside = _CLASS.sub("", pattern)
        if not pattern or len(pattern) > MAX_PATTERN or not allowed.fullmatch(outside):
            raise InvalidInputError(
                f"{option} {pattern[:80]!r}: no {what} can match it ({what} names hold {_ALLOWED[what]})"
            )
    return list(patterns)


def repository_patterns(patterns: Sequence[str]) -> list[str]:
    """``patterns`` if each can match some ECR repository name, else an InvalidInputError."""
    return _check("--repository", patterns, _REPOSITORY_CHARS, "repository")


def tag_patterns(patterns: Sequence[str]) -> list[str]:
    """``patterns`` if each can match some image tag, else an InvalidInputError."""
    return _check("--tag", patterns, _TAG_CHARS, "tag")


def unmatched(ecr: Any, patterns: Sequence[str]) -> str | None:
    """When ``--repository`` globs were given and match no repository of the source (``ecr``, one
    DescribeRepositories listing), the line that says so; else None."""
    from ecr_replicate.inventory import list_repositories  # noqa: PLC0415 - keep --help fast

    if not patterns or list_repositories(ecr, patterns):
        return None
    return f"no repository matches {', '.join(repr(pattern) for pattern in patterns)}"
