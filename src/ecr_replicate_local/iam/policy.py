"""IAM identity-based policies -> decisions, as AWS evaluates them within one account.

:func:`evaluate` takes the policies attached to a principal (inline and managed, already
resolved to plain JSON) and one request (action, resource ARN, condition context) and answers:

1. an explicit ``Deny`` that applies wins;
2. else an ``Allow`` that applies allows;
3. else the request is denied implicitly.

A statement applies when its ``Action`` (or ``NotAction``), its ``Resource`` (or
``NotResource``) and its ``Condition`` all match. Actions match case-insensitively with ``*``
and ``?``; resources match as ARNs, segment by segment, with the same wildcards. Conditions:
:mod:`ecr_replicate_local.iam.conditions`.

Not evaluated, and why (docs/local-twin.md): resource-based policies (the stack is one account,
where an identity policy alone grants access), permissions boundaries, session policies and
SCPs (the stack sets none), policy variables (``${aws:username}``; the template uses none: a
resource pattern with one is *unsupported*). Anything unsupported that could change the answer
makes the evaluator deny, and the decision names it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_local.iam.conditions import Context, evaluate_block

_VERSIONS = ("2012-10-17", "2008-10-17")


@dataclass(frozen=True)
class Statement:
    sid: str
    effect: str  # "Allow" | "Deny"
    actions: tuple[str, ...]
    not_actions: bool
    resources: tuple[str, ...]
    not_resources: bool
    condition: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    """One policy document (``name``: where it came from, for decisions and messages)."""

    name: str
    statements: tuple[Statement, ...]

    @classmethod
    def parse(cls, name: str, document: Mapping[str, Any] | str) -> Policy:
        """Parse and validate an identity-based policy document; ConfigurationError if malformed."""
        if isinstance(document, str):
            try:
                document = json.loads(document)
            except ValueError as exc:
                raise ConfigurationError(f"policy {name} is not JSON: {exc}") from None
        if not isinstance(document, Mapping):
            raise ConfigurationError(f"policy {name} is not a JSON object")
        version = document.get("Version", "2008-10-17")
        if version not in _VERSIONS:
            raise ConfigurationError(f"policy {name}: unknown Version {version!r}")
        raw = document.get("Statement")
        items = [raw] if isinstance(raw, Mapping) else raw
        if not isinstance(items, list) or not items:
            raise ConfigurationError(f"policy {name} has no Statement")
        return cls(name, tuple(_statement(name, n, item) for n, item in enumerate(items)))


def _strings(name: str, value: Any, what: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) and v for v in items):
        raise ConfigurationError(f"policy {name}: {what} must be a string or a list of strings")
    return tuple(items)


def _one_of(name: str, item: Mapping[str, Any], key: str, negated: str) -> tuple[tuple[str, ...], bool]:
    if (key in item) == (negated in item):
        raise ConfigurationError(f"policy {name}: a statement needs exactly one of {key} and {negated}")
    if key in item:
        return _strings(name, item[key], key), False
    return _strings(name, item[negated], negated), True


def _statement(name: str, index: int, item: Any) -> Statement:
    if not isinstance(item, Mapping):
        raise ConfigurationError(f"policy {name}: statement {index} is not an object")
    effect = item.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise ConfigurationError(f"policy {name}: statement {index} has Effect {effect!r}")
    if "Principal" in item or "NotPrincipal" in item:
        raise ConfigurationError(f"policy {name}: an identity-based policy has no Principal")
    actions, not_actions = _one_of(name, item, "Action", "NotAction")
    resources, not_resources = _one_of(name, item, "Resource", "NotResource")
    condition = item.get("Condition") or {}
    if not isinstance(condition, Mapping):
        raise ConfigurationError(f"policy {name}: statement {index} Condition is not an object")
    return Statement(
        sid=str(item.get("Sid") or f"#{index}"),
        effect=str(effect),
        actions=actions,
        not_actions=not_actions,
        resources=resources,
        not_resources=not_resources,
        condition=condition,
    )


# --- matching ---------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def action_matches(pattern: str, action: str) -> bool:
    """``ecr:Put*`` matches ``ecr:PutImage``; IAM action names are case-insensitive."""
    return _wildcard(pattern, True).fullmatch(action) is not None


def resource_matches(pattern: str, arn: str) -> bool:
    """ARN matching: ``*`` alone matches anything; otherwise the six colon-separated segments
    are matched one by one (a wildcard never spans a colon before the resource part), and a
    pattern that is not a whole ARN matches nothing."""
    if pattern == "*":
        return True
    want, got = pattern.split(":", 5), arn.split(":", 5)
    if len(want) != 6 or len(got) != 6:
        return False
    return all(_wildcard(w, False).fullmatch(g) is not None for w, g in zip(want, got, strict=True))


# --- decisions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One authorisation question. ``context`` keys are lower-cased condition keys."""

    principal: str
    action: str
    resource: str
    context: Context = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """The answer for one request, with the reason in AWS's words.

    ``reason`` ends AWS's sentence "User: P is not authorized to perform: A on resource: R ...":
    ``because no identity-based policy allows the A action`` or ``with an explicit deny in an
    identity-based policy``; :meth:`message` is that whole sentence. ``unsupported`` names what
    the twin could not evaluate in statements that would otherwise have applied (then denied).
    """

    allowed: bool
    explicit_deny: bool = False
    statement: str = ""  # "policy-name/Sid" of the deciding statement
    unsupported: tuple[str, ...] = ()
    request: Request | None = None

    @property
    def reason(self) -> str:
        if self.allowed or self.request is None:
            return ""
        if self.explicit_deny:
            return "with an explicit deny in an identity-based policy"
        return f"because no identity-based policy allows the {self.request.action} action"

    def message(self) -> str:
        """AWS's AccessDenied sentence (plus what the twin could not evaluate, if anything)."""
        if self.allowed or self.request is None:
            return ""
        r = self.request
        text = (
            f"User: {r.principal} is not authorized to perform: {r.action} "
            f"on resource: {r.resource} {self.reason}"
        )
        if self.unsupported:
            text += f" (the local twin does not evaluate: {', '.join(self.unsupported)})"
        return text


def _applies(statement: Statement, request: Request) -> tuple[bool, tuple[str, ...]]:
    """(applies, unsupported): whether the statement covers the request."""
    action_hit = any(action_matches(p, request.action) for p in statement.actions)
    if action_hit == statement.not_actions:
        return False, ()
    if any("${" in p for p in statement.resources):
        return False, (f"policy variables in {statement.sid}",)
    resource_hit = any(resource_matches(p, request.resource) for p in statement.resources)
    if resource_hit == statement.not_resources:
        return False, ()
    if not statement.condition:
        return True, ()
    result = evaluate_block(statement.condition, request.context)
    return result.holds, result.unsupported


def evaluate(policies: Iterable[Policy], request: Request) -> Decision:
    """Explicit deny > allow > implicit deny (see the module docstring)."""
    allow: str = ""
    unsupported: list[str] = []
    for policy in policies:
        for statement in policy.statements:
            applies, unknown = _applies(statement, request)
            where = f"{policy.name}/{statement.sid}"
            if unknown:
                unsupported.extend(f"{u} ({where})" for u in unknown)
                if statement.effect == "Deny":  # it may apply: deny, and say why
                    return Decision(False, True, where, tuple(unsupported), request)
                continue
            if not applies:
                continue
            if statement.effect == "Deny":
                return Decision(False, True, where, (), request)
            allow = allow or where
    if allow:  # an Allow the twin could not read changes nothing once another one applies
        return Decision(True, statement=allow, request=request)
    return Decision(False, False, "", tuple(unsupported), request)


def allowed_actions(policies: Sequence[Policy]) -> list[str]:
    """Every action pattern an ``Allow`` statement names (for the mutation check and the docs)."""
    return sorted(
        {
            a
            for p in policies
            for s in p.statements
            if s.effect == "Allow" and not s.not_actions
            for a in s.actions
        }
    )
