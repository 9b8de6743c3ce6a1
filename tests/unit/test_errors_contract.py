"""Every error name the state machine matches exists: a States.*/Lambda.* name or one of our classes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ecr_replicate.errors import ERROR_CLASSES

ROOT = Path(__file__).resolve().parents[2]


def error_names(node: Any) -> list[str]:
    names: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "ErrorEquals":
                names.extend(value)
            elif key == "Error" and isinstance(value, str):
                names.append(value)
            else:
                names.extend(error_names(value))
    elif isinstance(node, list):
        for value in node:
            names.extend(error_names(value))
    return names


def test_every_asl_error_name_is_known() -> None:
    files = sorted((ROOT / "statemachine").glob("*.asl.json"))
    assert files
    seen = set()
    for path in files:
        for name in error_names(json.loads(path.read_text())):
            seen.add(name)
            assert name.startswith(("States.", "Lambda.")) or name in ERROR_CLASSES, f"{path.name}: {name}"
    # the names this workflow relies on really are there
    assert {"AwsThrottledError", "AwsTransientError", "RegistryUnavailableError", "ReplicationFailed"} <= seen
