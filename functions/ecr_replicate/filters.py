"""Include/exclude glob filters on repository names and tags (``fnmatch``, case-sensitive).

An empty include list means "everything"; an exclude match always wins. A request without a tag
(a manual copy by digest) is not subject to the tag filters: the operator named the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from ecr_replicate.config import Settings


def _matches(value: str, include: Sequence[str], exclude: Sequence[str]) -> str | None:
    """None if ``value`` passes, else the reason it does not."""
    for pattern in exclude:
        if fnmatchcase(value, pattern):
            return f"matches exclude pattern {pattern!r}"
    if include and not any(fnmatchcase(value, pattern) for pattern in include):
        return f"matches no include pattern ({', '.join(include)})"
    return None


def filter_reason(settings: Settings, repository: str, tag: str | None) -> str | None:
    """None if the image is to be replicated, else a sentence saying why it is skipped."""
    reason = _matches(repository, settings.repository_include, settings.repository_exclude)
    if reason is not None:
        return f"repository {repository!r} {reason}"
    if tag is not None:
        reason = _matches(tag, settings.tag_include, settings.tag_exclude)
        if reason is not None:
            return f"tag {tag!r} {reason}"
    return None
