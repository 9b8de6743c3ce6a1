"""Issue 6 item 4: hostile events, manual inputs, references and manifests each get a clear typed
error from ``ecr_replicate.errors``; nothing crashes, hangs (pytest-timeout) or reaches a shell.

The corpus is the table below; hypothesis then fuzzes the event normaliser (``model.parse_request``,
the Plan handler's parse step) and the reference parser (``oci.reference.parse_reference``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecr_replicate import model
from ecr_replicate.errors import (
    BlobIntegrityError,
    InvalidInputError,
    InvalidReferenceError,
    ReplicationError,
    UnsupportedManifestError,
)
from ecr_replicate.oci import manifest_tree
from ecr_replicate.oci.manifest_tree import walk
from ecr_replicate.oci.manifests import MAX_BLOBS_PER_MANIFEST, MAX_INDEX_DEPTH, Manifest, parse_manifest
from ecr_replicate.oci.reference import Reference, parse_reference
from ecr_replicate.oci.transport import RetryPolicy, Transport
from ecr_replicate_local.registry import LocalRegistry
from tests.support.audit import tag_digest
from tests.support.hostile_registry import HostileRegistry
from tests.support.plain_http import copy_plain

pytestmark = pytest.mark.timeout(120)

EVENTS = Path(__file__).resolve().parents[1] / "events"
PUSH: dict[str, Any] = json.loads((EVENTS / "ecr_push_tag.json").read_text())
MANUAL = {"repository": "team/app", "tag": "v1"}
HEX = "ab" * 32
HUGE = "a" * (1 << 20)  # 1 MiB
SHELL = ["a;rm -rf /", "$(id)", "`id`", "a\nb", "a|b", "a&&b", "a>b", "a'b", 'a"b', "a b"]
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def push_event(**detail: Any) -> dict[str, Any]:
    """The ECR push event with detail fields replaced (None removes a field)."""
    event: dict[str, Any] = copy.deepcopy(PUSH)
    for key, value in detail.items():
        if value is None:
            event["detail"].pop(key, None)
        else:
            event["detail"][key] = value
    return event


def envelope(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(PUSH)
    for key, value in fields.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def corpus() -> Iterator[tuple[str, Any, type[ReplicationError]]]:
    """(case name, input, the error class it must raise)."""
    bad_ref = InvalidReferenceError
    bad = InvalidInputError
    # not an object, wrong envelope
    not_objects: list[tuple[str, Any]] = [("null", None), ("list", [PUSH]), ("string", "x"), ("number", 7)]
    for name, value in [*not_objects, ("empty", {})]:
        yield f"input-{name}", value, bad
    yield "unknown-detail-type", envelope(**{"detail-type": "Something Else"}), bad
    yield "detail-not-object", envelope(detail="x"), bad
    yield "missing-detail", envelope(detail=None), bad
    yield "account-not-12-digits", envelope(account="12345"), bad
    yield "region-shell", envelope(region="us-east-1;id"), bad
    yield "id-not-string", envelope(id=123), bad
    yield "huge-id", envelope(id=HUGE, detail={"repository-name": HUGE}), bad
    # missing fields, wrong types
    for field in ("repository-name", "image-digest", "action-type", "result"):
        yield f"missing-{field}", push_event(**{field: None}), bad
    wrong_types: list[Any] = [7, ["team/app"], {"a": 1}, True, 1.5]
    for wrong in wrong_types:
        yield f"repository-type-{type(wrong).__name__}", push_event(**{"repository-name": wrong}), bad
        yield f"tag-type-{type(wrong).__name__}", push_event(**{"image-tag": wrong}), bad
    # repository names
    names = [
        "..",
        "a/../b",
        "../etc",
        "/abs",
        "a/",
        "a//b",
        "Team/App",
        "UPPER",
        "a" * 256,
        HUGE,
        "",
        "-a",
        "a--",
    ]
    for number, name in enumerate([*names, *SHELL, "a/$(id)/b", "a`id`"]):
        yield f"repository-{number}", push_event(**{"repository-name": name}), bad_ref
        yield f"manual-repository-{number}", {**MANUAL, "repository": name}, bad_ref
    # tags
    for number, tag in enumerate(["a" * 129, HUGE, "", ".hidden", "-dash", "a:b", "a/b", *SHELL]):
        yield f"tag-{number}", push_event(**{"image-tag": tag}), bad_ref
        yield f"manual-tag-{number}", {**MANUAL, "tag": tag}, bad_ref
    # digests
    digests = [
        "md5:" + "a" * 32,
        "sha1:" + "a" * 40,
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha256:" + "A" * 64,
        "sha256:" + "g" * 64,
        "sha512:" + "a" * 64,
        "sha256" + HEX,
        "sha256:",
        HUGE,
        "sha256:$(id)",
    ]
    for number, digest in enumerate(digests):
        yield f"digest-{number}", push_event(**{"image-digest": digest}), bad_ref
        yield f"manual-digest-{number}", {"repository": "team/app", "digest": digest}, bad_ref
    # manual inputs
    yield "manual-no-tag-or-digest", {"repository": "team/app"}, bad
    yield "manual-unknown-field", {**MANUAL, "command": "rm -rf /"}, bad
    yield "manual-regions-string", {**MANUAL, "regions": "eu-west-1"}, bad
    yield "manual-regions-empty", {**MANUAL, "regions": []}, bad
    yield "manual-regions-shell", {**MANUAL, "regions": ["eu-west-1; id"]}, bad
    yield "manual-regions-huge", {**MANUAL, "regions": [HUGE]}, bad
    yield "manual-regions-many", {**MANUAL, "regions": ["eu-west-1"] * 10_000}, bad
    yield "manual-repository-int", {"repository": 5, "tag": "v1"}, bad


CORPUS = list(corpus())


class ShellWatch:
    """Records every subprocess started during a test; os.system/os.popen are refused outright."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[Any, Any]] = []
        watch = self
        real = subprocess.Popen

        class RecordingPopen(real):  # type: ignore[misc, valid-type]
            def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
                watch.calls.append((args, kwargs.get("shell", False)))
                super().__init__(args, *rest, **kwargs)

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"a shell was started: {args!r}")

        monkeypatch.setattr(subprocess, "Popen", RecordingPopen)
        monkeypatch.setattr(os, "system", refuse)
        monkeypatch.setattr(os, "popen", refuse)

    def assert_no_shell(self) -> None:
        for args, shell in self.calls:
            assert shell is False, f"shell=True for {args!r}"
            assert isinstance(args, (list, tuple)), f"a command string: {args!r}"


@pytest.fixture
def shell_watch(monkeypatch: pytest.MonkeyPatch) -> Iterator[ShellWatch]:
    watch = ShellWatch(monkeypatch)
    yield watch
    watch.assert_no_shell()


def test_the_shell_watch_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    watch = ShellWatch(monkeypatch)
    subprocess.run("true", shell=True, check=True)  # the watch records it ...
    with pytest.raises(AssertionError):
        watch.assert_no_shell()  # ... and fails on it
    with pytest.raises(AssertionError):
        os.system("true")


@pytest.mark.parametrize(("case", "data", "expected"), CORPUS, ids=[case for case, _, _ in CORPUS])
def test_hostile_event_or_manual_input_gets_a_typed_error(
    case: str, data: Any, expected: type[ReplicationError], shell_watch: ShellWatch
) -> None:
    with pytest.raises(ReplicationError) as info:
        model.parse_request(data, default_region="us-east-1", default_account="123456789012")
    assert isinstance(info.value, expected), f"{case}: {type(info.value).__name__}: {info.value}"
    message = str(info.value)
    assert message and len(message) < 2000, "messages stay short (no 1 MiB echo)"


def test_corpus_covers_every_kind_named_in_the_issue() -> None:
    names = " ".join(case for case, _, _ in CORPUS)
    for kind in ("missing-", "-type-", "repository-", "tag-", "digest-", "manual-"):
        assert kind in names
    assert len(CORPUS) > 100


HOSTILE_REFERENCES = [
    "127.0.0.1:1/a;rm -rf ~:v1",
    "127.0.0.1:1/$(id):v1",
    "127.0.0.1:1/app:`id`",
    "127.0.0.1:1/app:v1\nid",
    "127.0.0.1:1/../etc/passwd:v1",
    "127.0.0.1:1/App:v1",
    "127.0.0.1:1/app:" + "a" * 129,
    "127.0.0.1:1/app@md5:" + "a" * 32,
    "127.0.0.1:1/app@sha256:" + "a" * 63,
    "http://127.0.0.1:1/app:v1",
    "127.0.0.1:99999/app:v1",
    "127.0.0.1;id/app:v1",
    "app:v1",
    "",
]


@pytest.mark.parametrize("reference", HOSTILE_REFERENCES)
def test_hostile_reference_is_refused_before_any_request(reference: str, shell_watch: ShellWatch) -> None:
    # port 1 on loopback refuses connections: a RegistryUnavailableError would mean we connected
    with pytest.raises(InvalidReferenceError):
        copy_plain(reference, "127.0.0.1:1/app:v1", retry=RetryPolicy(1))
    with pytest.raises(InvalidReferenceError):
        copy_plain("127.0.0.1:1/app:v1", reference, retry=RetryPolicy(1))


# --- hostile manifests, served over HTTP ---------------------------------------------------------


def sha(body: bytes) -> str:
    import hashlib  # noqa: PLC0415

    return "sha256:" + hashlib.sha256(body).hexdigest()


def image_manifest(layers: int) -> bytes:
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": f"sha256:{HEX}", "size": 1}
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{HEX}",
                "size": 1,
            },
            "layers": [layer] * layers,
        }
    ).encode()


def index_of(*children: str) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_INDEX, "digest": d, "size": 100} for d in children],
        }
    ).encode()


def nested_indexes(depth: int) -> dict[str, tuple[str, bytes]]:
    """A valid chain index -> index -> ... -> image, ``depth`` indexes deep, served by digest."""
    served: dict[str, tuple[str, bytes]] = {}
    body, kind = image_manifest(1), OCI_MANIFEST
    for _ in range(depth):
        served[sha(body)] = (kind, body)
        body, kind = index_of(sha(body)), OCI_INDEX
    served["v1"] = (kind, body)
    return served


def cyclic_indexes() -> dict[str, tuple[str, bytes]]:
    """X (tag v1) -> child D1 -> child D2 -> D1: a cycle, possible only with lying digests."""
    d1, d2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    return {"v1": (OCI_INDEX, index_of(d1)), d1: (OCI_INDEX, index_of(d2)), d2: (OCI_INDEX, index_of(d1))}


HOSTILE_MANIFESTS: list[tuple[str, dict[str, tuple[str, bytes]], type[ReplicationError], str]] = [
    ("not-json", {"v1": (OCI_MANIFEST, b"<html>not json</html>")}, UnsupportedManifestError, "not JSON"),
    ("json-array", {"v1": (OCI_MANIFEST, b"[1, 2]")}, UnsupportedManifestError, "not a JSON object"),
    ("binary", {"v1": (OCI_MANIFEST, bytes(range(256)))}, UnsupportedManifestError, "not JSON"),
    (
        "too-many-layers",
        {"v1": (OCI_MANIFEST, image_manifest(MAX_BLOBS_PER_MANIFEST + 1))},
        UnsupportedManifestError,
        "limit",
    ),
    ("too-large", {"v1": (OCI_MANIFEST, b" " * (5 << 20))}, UnsupportedManifestError, "limit"),
    ("schema1", {"v1": ("application/json", b'{"schemaVersion": 1}')}, UnsupportedManifestError, "schema 1"),
    (
        "bad-size",
        {"v1": (OCI_MANIFEST, image_manifest(1).replace(b'"size": 1}]', b'"size": -5}]'))},
        UnsupportedManifestError,
        "size",
    ),
    ("index-cycle", cyclic_indexes(), BlobIntegrityError, "expected"),
    ("nested-too-deep", nested_indexes(MAX_INDEX_DEPTH + 2), UnsupportedManifestError, "deeper"),
]


@pytest.mark.parametrize(
    ("case", "served", "expected", "says"), HOSTILE_MANIFESTS, ids=[c[0] for c in HOSTILE_MANIFESTS]
)
def test_hostile_manifest_fails_typed_and_tags_nothing(
    case: str,
    served: dict[str, tuple[str, bytes]],
    expected: type[ReplicationError],
    says: str,
    target_registry: LocalRegistry,
    fast_retry: RetryPolicy,
    shell_watch: ShellWatch,
) -> None:
    with HostileRegistry(served) as hostile, pytest.raises(ReplicationError) as info:
        copy_plain(f"{hostile.host}/app:v1", f"{target_registry.host}/app:v1", retry=fast_retry)
    assert isinstance(info.value, expected), f"{case}: {type(info.value).__name__}: {info.value}"
    assert says in str(info.value)
    assert tag_digest(target_registry.host, "app", "v1") is None


def test_an_index_cycle_is_refused_by_the_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Digests make a real cycle impossible to store; the walk still refuses one (parser level)."""
    d1, d2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    bodies = {d1: index_of(d2), d2: index_of(d1)}

    def fetch(transport: Transport, ref: Reference, reference: str | None = None) -> Manifest:
        assert reference is not None
        return parse_manifest(bodies[reference], reference, OCI_INDEX)

    monkeypatch.setattr(manifest_tree, "fetch_manifest", fetch)
    monkeypatch.setattr(manifest_tree, "head_manifest", lambda *a, **k: None)
    root = parse_manifest(index_of(d1), "sha256:" + "0" * 64, OCI_INDEX)
    with pytest.raises(UnsupportedManifestError, match="cycle"):
        walk(Transport(), parse_reference("127.0.0.1:1/app:v1"), root, parse_reference("127.0.0.1:1/app:v1"))


# --- property-based fuzzing --------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=5),
    max_leaves=12,
)
FIELD = st.none() | st.integers() | st.text(max_size=300) | st.lists(st.text(max_size=10), max_size=3)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _normalise(data: Any) -> model.ReplicationRequest | None:
    try:
        return model.parse_request(data, default_region="us-east-1", default_account="123456789012")
    except InvalidInputError:  # InvalidReferenceError is a subclass
        return None


@FUZZ
@given(JSON)
def test_any_json_is_a_request_or_an_invalid_input_error(data: Any) -> None:
    _normalise(data)


@FUZZ
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "repository-name": FIELD,
            "image-digest": FIELD | st.just(f"sha256:{HEX}"),
            "image-tag": FIELD,
            "action-type": FIELD | st.just("PUSH"),
            "result": FIELD | st.just("SUCCESS"),
        },
    ),
    st.sampled_from(["ECR Image Action", "AWS API Call via CloudTrail", None]),
)
def test_fuzzed_push_events_normalise_or_fail_typed(detail: dict[str, Any], detail_type: str | None) -> None:
    event = envelope(detail=detail, **{"detail-type": detail_type})
    request = _normalise(event)
    if request is not None:  # a request that parses is valid by the OCI grammar
        parse_reference(f"127.0.0.1:5000/{request.repository}:{request.tag or 'x'}")


@FUZZ
@given(
    st.fixed_dictionaries(
        {"repository": FIELD},
        optional={"tag": FIELD, "digest": FIELD, "regions": FIELD | st.lists(FIELD, max_size=3)},
    )
)
def test_fuzzed_manual_inputs_normalise_or_fail_typed(data: dict[str, Any]) -> None:
    _normalise(data)


@FUZZ
@given(st.text(max_size=300))
def test_any_text_is_a_reference_or_an_invalid_reference_error(text: str) -> None:
    with contextlib.suppress(InvalidReferenceError):
        parse_reference(text)


LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"
ALNUM = LOWER + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SEPARATOR = st.sampled_from([".", "_", "__", "-", "--"])
COMPONENT = st.builds(
    lambda first, rest: first + "".join(sep + word for sep, word in rest),
    st.text(LOWER, min_size=1, max_size=8),
    st.lists(st.tuples(SEPARATOR, st.text(LOWER, min_size=1, max_size=8)), max_size=2),
)
LABEL = st.builds(
    lambda a, b: a + b,
    st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=1),
    st.text(LOWER, max_size=10),
)
HOST = st.one_of(
    st.just("127.0.0.1:5000"),
    st.just("[::1]:5000"),
    st.just("123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
    st.builds(
        lambda labels, port: ".".join(labels) + (f":{port}" if port else ""),
        st.lists(LABEL, min_size=2, max_size=3),  # one label alone is a repository (Docker's rule)
        st.none() | st.integers(1, 65535),
    ),
)
TAG = st.builds(
    lambda first, rest: first + rest,
    st.text(ALNUM + "_", min_size=1, max_size=1),
    st.text(ALNUM + "._-", max_size=127),
)
DIGEST = st.one_of(
    st.builds(lambda hexes: "sha256:" + hexes, st.text("0123456789abcdef", min_size=64, max_size=64)),
    st.builds(lambda hexes: "sha512:" + hexes, st.text("0123456789abcdef", min_size=128, max_size=128)),
)


@FUZZ
@given(HOST, st.lists(COMPONENT, min_size=1, max_size=4), st.none() | TAG, st.none() | DIGEST)
def test_canonical_references_round_trip(
    host: str, parts: list[str], tag: str | None, digest: str | None
) -> None:
    repository = "/".join(parts)
    if len(repository) > 255:
        return
    text = f"{host}/{repository}" + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    if tag is None and digest is None:
        text += ":latest"
    ref = parse_reference(text)
    assert str(ref) == text
    assert ref.repository == repository and ref.host == host
    assert parse_reference(str(ref)) == ref
