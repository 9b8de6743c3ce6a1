"""The twin makes each boto3 client once (per key) and the interpreter parses a definition once."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest

from ecr_replicate_local.client_cache import ClientCache
from ecr_replicate_local.moto_patches import definition_parse_patches


def test_a_client_is_made_once_per_key_and_the_least_recently_used_is_forgotten() -> None:
    made: list[str] = []

    def maker(name: str) -> Callable[[], object]:
        def make() -> object:
            made.append(name)
            return object()

        return make

    cache = ClientCache(limit=2)
    first = cache.get(("ecr", "eu-west-1", "KEY1"), maker("a"))
    assert cache.get(("ecr", "eu-west-1", "KEY1"), maker("again")) is first
    other = cache.get(("ecr", "eu-west-1", "KEY2"), maker("b"))  # new credentials: a new client
    assert other is not first and made == ["a", "b"]
    cache.get(("ecr", "eu-west-1", "KEY1"), maker("unused"))  # KEY1 is now the most recent
    cache.get(("sns", "eu-west-1", "KEY1"), maker("c"))  # over the limit: KEY2's client goes
    assert len(cache) == 2
    cache.get(("ecr", "eu-west-1", "KEY2"), maker("b again"))
    assert made == ["a", "b", "c", "b again"]
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError, match="at least one"):
        ClientCache(limit=0)


def _worker(definition: str) -> SimpleNamespace:
    details = SimpleNamespace(state_machine_details=SimpleNamespace(definition=definition))
    return SimpleNamespace(_evaluation_details=details)


def test_a_definition_is_parsed_once_per_text() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser  # noqa: PLC0415
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker  # noqa: PLC0415

    def parse(definition: str) -> tuple[object, None]:
        return (f"program of {definition}", None)

    with mock.patch.object(AmazonStateLanguageParser, "parse", side_effect=parse) as parsed:
        patches = definition_parse_patches()
        for patcher in patches:
            patcher.start()
        try:
            entrypoint: Any = ExecutionWorker._get_evaluation_entrypoint
            programs = [entrypoint(_worker(text)) for text in ("A", "A", "B")]
        finally:
            for patcher in reversed(patches):
                patcher.stop()
    assert programs == ["program of A", "program of A", "program of B"]
    assert [call.args[0] for call in parsed.call_args_list] == ["A", "B"]
