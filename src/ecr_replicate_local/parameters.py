"""Template parameters for local runs: ``--parameter-overrides`` read as ``sam deploy`` reads it,
checked against ``template.yaml``'s ``Parameters`` as CloudFormation checks them.

The one place the local twin validates parameter values: :class:`~ecr_replicate_local.template.Template`
calls :func:`values_in_force` too, so a value refused here is refused everywhere.

Spelling (``sam deploy --parameter-overrides``): ``KEY=VALUE`` or
``ParameterKey=KEY,ParameterValue=VALUE``, several pairs after one flag or in one argument separated
by spaces; a value may be quoted (``Key="a b"``) or hold commas (``TargetRegions=eu-west-1,eu-west-2``).
A key given twice keeps its last value, as ``sam deploy`` does.

Constraints (CloudFormation's): ``AllowedValues``, ``AllowedPattern`` (the whole value must match),
``MinLength``/``MaxLength`` (String), ``MinValue``/``MaxValue`` and the number syntax (Number,
``List<Number>``); for ``CommaDelimitedList`` and ``List<Number>`` each item is checked. A
``ConstraintDescription`` is what the error says when a constraint fails.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ecr_replicate.errors import ConfigurationError

STRING, NUMBER, LIST, NUMBER_LIST = "String", "Number", "CommaDelimitedList", "List<Number>"
SUPPORTED_TYPES = (STRING, NUMBER, LIST, NUMBER_LIST)
_KEY = re.compile(r"^[A-Za-z0-9]+$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_LONG_KEY = re.compile(r"^ParameterKey=([^,]*),ParameterValue=(.*)$", re.S)
SHOWN_VALUE_CHARS = 60


def _shown(value: str) -> str:
    """A value as an error message quotes it (bounded, repr-quoted)."""
    text = value if len(value) <= SHOWN_VALUE_CHARS else value[: SHOWN_VALUE_CHARS - 1] + "…"
    return repr(text)


def _number(text: str) -> Decimal | None:
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid literals
        return None


@dataclass(frozen=True)
class ParameterSpec:
    """One entry of a template's ``Parameters``."""

    name: str
    type: str = STRING
    default: str | None = None
    description: str = ""
    allowed_values: tuple[str, ...] | None = None
    allowed_pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    constraint_description: str | None = None
    no_echo: bool = False

    @classmethod
    def from_template(cls, name: str, spec: Any) -> ParameterSpec:
        """Read one declaration; a declaration the twin cannot check is a ConfigurationError."""
        if not isinstance(spec, Mapping):
            raise ConfigurationError(f"template parameter {name}: its declaration is not a mapping")
        kind = str(spec.get("Type", STRING))
        if kind not in SUPPORTED_TYPES:
            raise ConfigurationError(
                f"template parameter {name}: type {kind} cannot be resolved locally "
                f"(the local twin checks {', '.join(SUPPORTED_TYPES)})"
            )
        allowed = spec.get("AllowedValues")
        pattern = spec.get("AllowedPattern")
        if pattern is not None:
            try:
                re.compile(str(pattern))
            except re.error as exc:
                raise ConfigurationError(
                    f"template parameter {name}: AllowedPattern is not a regex: {exc}"
                ) from None
        return cls(
            name=name,
            type=kind,
            default=None if spec.get("Default") is None else _text(spec["Default"]),
            description=str(spec.get("Description") or ""),
            allowed_values=None if allowed is None else tuple(_text(v) for v in allowed),
            allowed_pattern=None if pattern is None else str(pattern),
            min_length=_declared_int(name, spec, "MinLength"),
            max_length=_declared_int(name, spec, "MaxLength"),
            min_value=_declared_number(name, spec, "MinValue"),
            max_value=_declared_number(name, spec, "MaxValue"),
            constraint_description=str(spec["ConstraintDescription"])
            if spec.get("ConstraintDescription")
            else None,
            no_echo=str(spec.get("NoEcho", "false")).lower() == "true",
        )

    @property
    def is_list(self) -> bool:
        return self.type in (LIST, NUMBER_LIST)

    def items(self, value: str) -> list[str]:
        """What ``Ref`` gives for a list parameter: the items, blanks around them dropped."""
        return [item.strip() for item in value.split(",") if item.strip()]

    def check(self, value: str) -> str:
        """``value`` if CloudFormation would accept it for this parameter, else a ConfigurationError
        whose one-line message names the parameter, the value and the constraint it breaks (in the
        template's ``ConstraintDescription`` words when it has one)."""
        problem = self._problem(value)
        if problem is not None:
            sentence, constraint = problem
            if self.constraint_description:
                said = f"{self.constraint_description} ({constraint}: {sentence})"
            else:
                said = f"{sentence} ({constraint})"
            raise ConfigurationError(f"parameter {self.name}={_shown(value)}: {said}")
        return value

    def _problem(self, value: str) -> tuple[str, str] | None:
        """(what is wrong, which constraint) or None."""
        if self.type == STRING:
            if self.min_length is not None and len(value) < self.min_length:
                return f"must be at least {self.min_length} characters long", "MinLength"
            if self.max_length is not None and len(value) > self.max_length:
                return f"must be at most {self.max_length} characters long", "MaxLength"
            return self._item_problem(value)
        for item in self.items(value) if self.is_list else [value]:
            problem = self._item_problem(item)
            if problem is not None:
                return (f"item {_shown(item)} {problem[0]}", problem[1]) if self.is_list else problem
        return None

    def _item_problem(self, item: str) -> tuple[str, str] | None:
        if self.type in (NUMBER, NUMBER_LIST):
            return self._number_problem(item)
        if self.allowed_values is not None and item not in self.allowed_values:
            return f"must be one of {', '.join(map(repr, self.allowed_values))}", "AllowedValues"
        if self.allowed_pattern is not None and re.fullmatch(self.allowed_pattern, item) is None:
            return f"must match {self.allowed_pattern}", "AllowedPattern"
        return None

    def _number_problem(self, item: str) -> tuple[str, str] | None:
        number = _number(item)
        problems = [
            (number is None, "must be a number", f"Type {self.type}"),
            (self.min_value is not None and number is not None and number < self.min_value,
             f"must be at least {self.min_value}", "MinValue"),
            (self.max_value is not None and number is not None and number > self.max_value,
             f"must be at most {self.max_value}", "MaxValue"),
            (self.allowed_values is not None and not any(_number(v) == number for v in self.allowed_values),
             f"must be one of {', '.join(self.allowed_values or ())}", "AllowedValues"),
        ]  # fmt: skip
        return next(((sentence, constraint) for failed, sentence, constraint in problems if failed), None)


def _text(value: Any) -> str:
    """A YAML scalar as CloudFormation reads it (``true`` stays ``true``, 30 stays ``30``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    return str(value)


def _declared_int(name: str, spec: Mapping[str, Any], key: str) -> int | None:
    raw = spec.get(key)
    if raw is None:
        return None
    if not str(raw).isdigit():
        raise ConfigurationError(f"template parameter {name}: {key} {raw!r} is not a whole number")
    return int(str(raw))


def _declared_number(name: str, spec: Mapping[str, Any], key: str) -> Decimal | None:
    raw = spec.get(key)
    if raw is None:
        return None
    number = _number(_text(raw))
    if number is None:
        raise ConfigurationError(f"template parameter {name}: {key} {raw!r} is not a number")
    return number


def declared(template: Mapping[str, Any]) -> dict[str, ParameterSpec]:
    """The template's ``Parameters``, in their order."""
    section = template.get("Parameters") or {}
    if not isinstance(section, Mapping):
        raise ConfigurationError("the template's Parameters section is not a mapping")
    return {str(name): ParameterSpec.from_template(str(name), spec) for name, spec in section.items()}


# --- --parameter-overrides ------------------------------------------------------------------


def parse_overrides(arguments: Iterable[str]) -> dict[str, str]:
    """``sam deploy``'s ``--parameter-overrides`` arguments -> {key: value} (the last one wins)."""
    found: dict[str, str] = {}
    for argument in arguments:
        try:
            pieces = shlex.split(argument)
        except ValueError as exc:
            raise ConfigurationError(f"--parameter-overrides {_shown(argument)}: {exc}") from None
        for piece in pieces:
            key, value = _pair(piece)
            found[key] = value
    return found


def _pair(piece: str) -> tuple[str, str]:
    long_form = _LONG_KEY.fullmatch(piece)
    if long_form is not None:
        key, value = long_form.group(1), long_form.group(2)
    else:
        key, sep, value = piece.partition("=")
        if not sep:
            raise ConfigurationError(
                f"--parameter-overrides: {_shown(piece)} is not KEY=VALUE "
                '(or ParameterKey=KEY,ParameterValue=VALUE; quote a value with spaces: KEY="A B")'
            )
    if not _KEY.fullmatch(key):
        raise ConfigurationError(
            f"--parameter-overrides: {_shown(key)} is not a parameter name (letters and digits only)"
        )
    return key, value


# --- the values in force ----------------------------------------------------------------------


def _unknown(key: str, specs: Mapping[str, ParameterSpec]) -> ConfigurationError:
    names = list(specs)
    near = difflib.get_close_matches(key, names, n=1) or [n for n in names if n.lower() == key.lower()]
    hint = f"did you mean {near[0]}? " if near else ""
    return ConfigurationError(
        f"unknown template parameter {key}: {hint}the template's parameters are {', '.join(names) or 'none'}"
    )


def values_in_force(specs: Mapping[str, ParameterSpec], overrides: Mapping[str, str]) -> dict[str, str]:
    """Every declared parameter's value (override, else Default), each checked; unknown keys and
    parameters without a value are ConfigurationErrors."""
    for key in overrides:
        if key not in specs:
            raise _unknown(key, specs)
    values: dict[str, str] = {}
    for name, spec in specs.items():
        value = overrides.get(name, spec.default)
        if value is None:
            raise ConfigurationError(
                f"template parameter {name} has no Default: give --parameter-overrides {name}=VALUE"
            )
        values[name] = spec.check(value)
    return values


DEFAULT, OVERRIDE = "default", "override"


@dataclass(frozen=True)
class ParametersInForce:
    """The values a local stack is created with, and where each came from."""

    specs: Mapping[str, ParameterSpec]
    values: Mapping[str, str]
    origins: Mapping[str, str]  # name -> "default" | "override" | "from --regions" | ...

    @property
    def overrides(self) -> dict[str, str]:
        """What differs from the template's defaults (what a stack is created with)."""
        return {name: value for name, value in self.values.items() if self.origins[name] != DEFAULT}

    def lines(self) -> list[str]:
        """One line per parameter: name, value (``""`` when empty, masked when NoEcho), origin."""
        width = max((len(name) for name in self.values), default=0)
        shown = {
            name: "****" if self.specs[name].no_echo else (value if value else '""')
            for name, value in self.values.items()
        }
        value_width = min(max((len(v) for v in shown.values()), default=0), 40)
        return [
            f"{name:<{width}}  {shown[name]:<{value_width}}  {self.origins[name]}" for name in self.values
        ]


def in_force(
    specs: Mapping[str, ParameterSpec],
    overrides: Mapping[str, str],
    derived: Mapping[str, tuple[str, str]] | None = None,
) -> ParametersInForce:
    """The values in force: ``overrides`` over the defaults, ``derived`` ({name: (value, origin)},
    e.g. TargetRegions from ``--regions``) over both; every value checked."""
    derived = {name: pair for name, pair in (derived or {}).items() if name in specs}
    merged = {**overrides, **{name: value for name, (value, _) in derived.items()}}
    values = values_in_force(specs, merged)
    origins = {
        name: derived[name][1] if name in derived else OVERRIDE if name in overrides else DEFAULT
        for name in values
    }
    return ParametersInForce(specs=specs, values=values, origins=origins)


def same_regions(value: str, source: str, targets: Sequence[str]) -> bool:
    """Whether a TargetRegions value names the same targets (the stack's own region is dropped
    if listed, as the template says; order and repeats do not matter)."""
    named = {item.strip() for item in value.split(",") if item.strip()} - {source}
    return named == set(targets)
