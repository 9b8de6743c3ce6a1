"""IAM ``Condition`` blocks: the operators and keys the local twin evaluates.

A condition block is ``{operator: {key: value | [values]}}``; every operator and every key in it
must hold (AND), and a key with several values holds when any value matches (OR), except for
the negated operators, which hold when none matches. A key absent from the request context makes
a positive operator false and a negated one true (as IAM does); ``...IfExists`` makes any
operator true for an absent key; ``Null`` tests presence. ``ForAnyValue:``/``ForAllValues:``
compare multivalued keys.

What is not modelled is never guessed: an operator outside :data:`OPERATORS`, or a key that is
neither in the request context nor in :data:`KNOWN_KEYS`, makes the block *unsupported*, and
the evaluator then denies and names it (:mod:`ecr_replicate_local.iam.policy`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

ContextValue = str | Sequence[str]
Context = Mapping[str, ContextValue]
"""Request context: lower-cased condition key -> value (a list for multivalued keys)."""

#: Keys the twin knows. Those it fills are set per request (see ``iam/requests.py``); the
#: others are known to be absent from the requests the twin serves (e.g. ``kms:ViaService``
#: on a direct KMS call), which IAM treats as "no value", not as an error.
KNOWN_KEYS = frozenset(
    {
        "aws:requestedregion",
        "aws:securetransport",
        "aws:principalarn",
        "aws:principalaccount",
        "aws:principaltype",
        "aws:userid",
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:calledvia",
        "aws:viaawsservice",
        "kms:viaservice",
        "kms:calleraccount",
    }
)


@dataclass(frozen=True)
class ConditionResult:
    holds: bool
    unsupported: tuple[str, ...] = ()


def _glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    return _compiled_glob(pattern, ignore_case)


@lru_cache(maxsize=4096)
def _compiled_glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM's ``StringLike``: ``*`` any run of characters, ``?`` one character, nothing else special."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _string_equals(value: str, wanted: str) -> bool:
    return value == wanted


def _string_equals_ignore_case(value: str, wanted: str) -> bool:
    return value.casefold() == wanted.casefold()


def _string_like(value: str, wanted: str) -> bool:
    return _glob(wanted).fullmatch(value) is not None


def _arn_like(value: str, wanted: str) -> bool:
    """``ArnLike``/``ArnEquals``: segment by segment (six colon-separated parts), wildcards inside."""
    got, want = value.split(":", 5), wanted.split(":", 5)
    if len(got) != 6 or len(want) != 6:
        return False
    return all(_glob(w).fullmatch(g) is not None for g, w in zip(got, want, strict=True))


def _bool(value: str, wanted: str) -> bool:
    return value.lower() == wanted.lower()


#: base operator -> (value test, negated)
_BASE: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "Bool": (_bool, False),
}
OPERATORS = frozenset({*_BASE, *(f"{op}IfExists" for op in _BASE), "Null"})
_SET_PREFIXES = ("ForAnyValue:", "ForAllValues:")


def _as_list(value: object) -> list[str]:
    if isinstance(value, list | tuple):
        return [_text(v) for v in value]
    return [_text(value)]


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def evaluate_block(block: Mapping[str, Mapping[str, object]], context: Context) -> ConditionResult:
    """Whether a statement's ``Condition`` holds for ``context`` (see the module docstring)."""
    unsupported: list[str] = []
    holds = True
    for raw_operator, tests in block.items():
        operator, set_mode = raw_operator, ""
        for prefix in _SET_PREFIXES:
            if operator.startswith(prefix):
                set_mode, operator = prefix[:-1], operator[len(prefix) :]
        if operator not in OPERATORS:
            unsupported.append(f"condition operator {raw_operator}")
            continue
        if not isinstance(tests, Mapping):
            unsupported.append(f"condition {raw_operator} is not a key -> value map")
            continue
        for raw_key, wanted in tests.items():
            key = str(raw_key).lower()
            if key not in context and key not in KNOWN_KEYS:
                unsupported.append(f"condition key {raw_key}")
                continue
            if not _holds(operator, set_mode, context.get(key), _as_list(wanted)):
                holds = False
    if unsupported:
        return ConditionResult(False, tuple(unsupported))
    return ConditionResult(holds)


def _holds(operator: str, set_mode: str, present: ContextValue | None, wanted: list[str]) -> bool:  # noqa: PLR0911
    if operator == "Null":
        return (present is None) == (wanted[0].lower() == "true")
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    test, negated = _BASE[base]
    if present is None:
        if if_exists:
            return True
        if set_mode == "ForAllValues":
            return True  # vacuously true over an empty set, as IAM evaluates it
        return negated and not set_mode

    values = [present] if isinstance(present, str) else list(present)

    def matches(value: str) -> bool:
        return any(test(value, w) for w in wanted)

    if set_mode == "ForAllValues":
        return all(matches(v) != negated for v in values)
    if set_mode == "ForAnyValue":
        return any(matches(v) != negated for v in values)
    # a single-valued key (a list here is compared value by value, as for ForAnyValue)
    hit = any(matches(v) for v in values)
    return not hit if negated else hit
