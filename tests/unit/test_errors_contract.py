"""Every error name the state machines match exists: one of our classes, or a name Step Functions
itself produces (States.*, and the service-integration prefixes of the tasks we use)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ecr_replicate.errors import ERROR_CLASSES

ROOT = Path(__file__).resolve().parents[2]
# errors raised by Step Functions itself or by the services our Task states integrate with
SERVICE_ERROR_PREFIXES = ("States.", "Lambda.", "StepFunctions.", "CodeBuild.", "SNS.", "EventBridge.")


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
            assert name.startswith(SERVICE_ERROR_PREFIXES) or name in ERROR_CLASSES, f"{path.name}: {name}"
    # the names this workflow relies on really are there
    assert {"AwsThrottledError", "AwsTransientError", "RegistryUnavailableError", "ReplicationFailed"} <= seen
