"""The error names between the handlers and the state machines.

Step Functions matches ``ErrorEquals`` against the Lambda ``errorType`` exactly (no subclassing),
so every retryable error must reach it under a name the Task's ``Retry`` lists, and no
permanent error under a retried name. These tests walk every ``ReplicationError`` subclass that
exists once the deployed package is imported (also classes defined outside ``errors.py``), the
name each one is reported under, and the ASL.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path
from typing import Any

import pytest

import ecr_replicate
from ecr_replicate import errors
from ecr_replicate.errors import ERROR_CLASSES, ReplicationError, reported_class
from ecr_replicate.handlers._common import reports_contract_errors

ROOT = Path(__file__).resolve().parents[2]
ASL_FILES = sorted((ROOT / "statemachine").glob("*.asl.json"))
REPLICATE_ASL = ROOT / "statemachine" / "replicate.asl.json"
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


def all_error_classes() -> list[type[ReplicationError]]:
    """Every ReplicationError subclass in the deployed package, after importing all of it."""
    for module in pkgutil.walk_packages(ecr_replicate.__path__, prefix="ecr_replicate."):
        importlib.import_module(module.name)
    found: list[type[ReplicationError]] = []
    pending = [ReplicationError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def lambda_tasks(node: Any) -> dict[str, dict[str, Any]]:
    """Every Task state invoking one of our functions, by name, at any depth."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in node.get("States", {}).items():
        if state.get("Type") == "Task" and state.get("Resource") == "arn:aws:states:::lambda:invoke":
            found[name] = state
        if "ItemProcessor" in state:
            found.update(lambda_tasks(state["ItemProcessor"]))
    return found


def retried_names(task: dict[str, Any]) -> set[str]:
    return {name for retrier in task.get("Retry", []) for name in retrier["ErrorEquals"]}


def test_every_asl_error_name_is_known() -> None:
    assert ASL_FILES
    seen = set()
    for path in ASL_FILES:
        for name in error_names(json.loads(path.read_text())):
            seen.add(name)
            assert name.startswith(SERVICE_ERROR_PREFIXES) or name in ERROR_CLASSES, f"{path.name}: {name}"
    # the names this workflow relies on really are there
    assert {"AwsThrottledError", "AwsTransientError", "RegistryUnavailableError", "ReplicationFailed"} <= seen


def test_the_contract_names_every_class_of_errors_py() -> None:
    defined = {
        cls.__name__
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, ReplicationError) and cls.__module__ == errors.__name__
    }
    assert set(ERROR_CLASSES) == defined


def test_the_walk_finds_classes_defined_outside_errors_py() -> None:
    outside = {cls.__name__ for cls in all_error_classes() if cls.__module__ != errors.__name__}
    assert "AnswerTooLargeError" in outside  # the copier's own subclass of RegistryProtocolError


def test_every_retryable_error_reaches_each_lambda_task_under_a_retried_name() -> None:
    tasks = {
        f"{path.stem}: {name}": task
        for path in ASL_FILES
        for name, task in lambda_tasks(json.loads(path.read_text())).items()
    }
    assert {
        "replicate.asl: Plan",
        "replicate.asl: Ensure repository",
        "replicate.asl: Copy image (Lambda)",
        "replicate.asl: Record failure",
        "replicate.asl: Summarize",
        "replicate.asl: Notify",
        "reconcile.asl: Find drift",
        "reconcile.asl: Check again and report",
        "reconcile.asl: Notify",
    } <= set(tasks)
    escaping = []
    for cls in all_error_classes():
        name = reported_class(cls).__name__
        for task_name, task in tasks.items():
            retried = name in retried_names(task)
            if cls.retryable and not retried:
                escaping.append(f"{cls.__module__}.{cls.__name__} reaches {task_name!r} as {name}")
            if not cls.retryable and retried:
                escaping.append(f"permanent {cls.__name__} is retried by {task_name!r} as {name}")
    assert escaping == []


def test_a_class_outside_the_contract_is_reported_as_its_nearest_listed_ancestor() -> None:
    class Interrupted(errors.RegistryUnavailableError):
        pass

    @reports_contract_errors
    def handler(event: Any, context: Any) -> Any:
        raise Interrupted("connection reset mid-blob", status=0, host="127.0.0.1:1")

    with pytest.raises(errors.RegistryUnavailableError) as caught:
        handler({}, None)
    assert type(caught.value) is errors.RegistryUnavailableError
    assert str(caught.value) == "connection reset mid-blob"
    assert caught.value.host == "127.0.0.1:1" and caught.value.retryable
    assert isinstance(caught.value.__cause__, Interrupted)


def test_a_contract_class_and_a_foreign_error_pass_unchanged() -> None:
    throttled = errors.AwsThrottledError("Rate exceeded")

    @reports_contract_errors
    def handler(event: Any, context: Any) -> Any:
        raise event

    with pytest.raises(errors.AwsThrottledError) as caught:
        handler(throttled, None)
    assert caught.value is throttled
    with pytest.raises(KeyError):
        handler(KeyError("x"), None)


def test_every_handler_reports_contract_errors() -> None:
    """The wrapper sits on every handler the template deploys (outermost, after the tracer)."""
    from ecr_replicate_local import stack_spec  # noqa: PLC0415
    from tests.unit.test_template_iam import resolved  # noqa: PLC0415

    for spec in stack_spec.functions(resolved({})).values():
        handler = getattr(importlib.import_module(spec.module), spec.attribute)
        assert getattr(handler, "reports_contract_errors", False), spec.handler
