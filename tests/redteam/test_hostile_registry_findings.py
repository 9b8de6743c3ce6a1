"""Red team, as a hostile registry: what the copier still lets a registry do (each test FAILS today).

Each test is ``xfail(strict=True)``: it documents a finding and turns into an unexpected pass
(a failure of the suite) the day the fault is fixed, so whoever fixes it removes the marker.
Servers are the hostile suite's (tests/support/hostile_registry.py), on 127.0.0.1 only; nothing
here connects anywhere else (a link-local URL is refused by a guard before any socket is opened).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest

from ecr_replicate.errors import (
    RegistryError,
    RegistryProtocolError,
    RegistryUnavailableError,
    ReplicationError,
    UnsupportedManifestError,
)
from ecr_replicate.oci import urls
from ecr_replicate.oci.answers import error_from_response
from ecr_replicate.oci.auth import StaticCredentials
from ecr_replicate.oci.reference import is_loopback_host
from ecr_replicate.oci.transport import RetryPolicy, Transport
from ecr_replicate.oci.urls import Url
from ecr_replicate_cli.main import main
from tests.hostile.conftest import copy_between
from tests.support.hostile_registry import (
    OCI_INDEX,
    OCI_MANIFEST,
    FakeRegistry,
    HostileServer,
    Reply,
    Seen,
    sha256,
)

pytestmark = pytest.mark.timeout(120)

MiB = 1024 * 1024

# A terminal escape payload: OSC 52 (write the operator's clipboard), erase the line, then a
# green "copied OK" where the real error was. Carried in an ordinary OCI error message.
ESCAPES = "\x1b]52;c;ZWNobyBvd25lZA==\x07\x1b[2K\r\x1b[32mcopied OK\x1b[0m"


def control_characters(text: str) -> list[str]:
    """C0/C1 control characters (ESC, BEL, CSI...) that would reach a terminal as they are."""
    return [repr(c) for c in text if unicodedata.category(c) == "Cc"]


def manifest_get(seen: Seen) -> bool:
    return seen.method == "GET" and "/manifests/" in seen.target


# --- 1. terminal escape injection through registry error messages ---------------------------


def test_a_registry_error_message_carries_no_terminal_control_characters() -> None:
    body = json.dumps({"errors": [{"code": "DENIED", "message": ESCAPES}]}).encode()
    error = error_from_response(400, body, host="127.0.0.1:1", what="read manifest")
    assert control_characters(str(error)) == []


def test_copy_prints_no_escape_sequence_a_registry_sent(servers, capsys) -> None:
    source = servers(HostileServer, lambda seen: Reply.error(400, "MANIFEST_INVALID", ESCAPES))
    code = main(
        [
            "copy",
            "--plain-http",
            "--quiet",
            "--timeout",
            "20",
            f"{source.host}/app:v1",
            f"{source.host}/copy:v1",
        ]
    )
    err = capsys.readouterr().err
    assert code != 0
    assert control_characters(err.replace("\n", "")) == [], err


# --- 2. no aggregate bound over an index tree -----------------------------------------------


def _padded_children(source: FakeRegistry, count: int, pad_bytes: int) -> list[dict[str, Any]]:
    """``count`` distinct image manifests of about ``pad_bytes`` each (annotations), stored in
    ``source``; their descriptors, as an index lists them."""
    base = json.loads(source.push_image("app", "seed").manifest)
    children = []
    for i in range(count):
        body = json.dumps({**base, "annotations": {"pad": f"{i:04d}" + "x" * pad_bytes}}).encode()
        digest = source.put_manifest("app", sha256(body), body)
        children.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(body),
                "platform": {"os": "linux", "architecture": f"arch{i}"},
            }
        )
    return children


def test_the_manifests_of_one_image_are_bounded_in_total(servers, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry), servers(FakeRegistry)
    children = _padded_children(source, 20, 4 * MiB - 4096)  # each under the 4 MiB limit
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    source.put_manifest("app", "v1", index, OCI_INDEX)
    served = {"bytes": 0}
    lock = threading.Lock()
    trip_wire = 48 * MiB  # the test's own memory bound: past it the source stops answering

    def count(seen: Seen) -> Reply | None:
        if manifest_get(seen) and "/manifests/sha256:" in seen.target:
            with lock:
                served["bytes"] += 4 * MiB
                if served["bytes"] > trip_wire:
                    return Reply.error(404, "MANIFEST_UNKNOWN", "trip-wire: the test stopped serving")
        return None

    source.script(lambda seen: True, count)
    with pytest.raises(ReplicationError) as info:
        copy_between(source, target, retry=retry)
    # fixed: a typed refusal (too much manifest data for one image) before the trip-wire
    assert isinstance(info.value, UnsupportedManifestError), f"{type(info.value).__name__}: {info.value}"
    assert served["bytes"] <= trip_wire


def test_the_blobs_of_one_image_are_bounded_in_total(servers, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry), servers(FakeRegistry)
    config = source.push_image("app", "seed")
    base = json.loads(config.manifest)
    children = []
    for child in range(12):
        layers = [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": f"sha256:{child:08x}{n:056x}",
                "size": 1,
            }
            for n in range(9_999)
        ]
        body = json.dumps({**base, "layers": layers}).encode()
        children.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": source.put_manifest("app", sha256(body), body),
                "size": len(body),
            }
        )
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    source.put_manifest("app", "v1", index, OCI_INDEX)
    # the target stops the copy at its first blob request (the test does not wait for 120,000)
    target.script(
        lambda seen: "/blobs/sha256:" in seen.target,
        Reply.error(400, "MANIFEST_INVALID", "trip-wire: a blob request"),
    )
    with pytest.raises(ReplicationError) as info:
        copy_between(source, target, retry=retry)
    assert isinstance(info.value, UnsupportedManifestError), f"{type(info.value).__name__}: {info.value}"
    assert target.seen(contains="/blobs/sha256:") == []


# --- 3. link-local (instance metadata) addresses a registry names are requested --------------

METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://169.254.170.2/v2/credentials/guess",
    "http://[fd00:ec2::254]/latest/meta-data/",
]


@pytest.fixture
def off_loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every URL the copier tried to reach off 127.0.0.1 (refused here, before any connection)."""
    asked: list[str] = []
    exchange = Transport._exchange

    def guarded(self: Transport, method: str, url: Url, *args: Any) -> Any:
        if not is_loopback_host(url.host):
            asked.append(str(url))
            raise RegistryUnavailableError(f"test guard: {url.host} is not contacted from tests")
        return exchange(self, method, url, *args)

    monkeypatch.setattr(Transport, "_exchange", guarded)
    yield asked


@pytest.mark.parametrize("realm", METADATA_URLS)
def test_a_token_realm_on_a_metadata_address_is_refused(realm: str, servers, retry, off_loopback) -> None:
    source = servers(FakeRegistry, auth=("bearer", "u", "p"), realm=realm)
    source.push_image("app", "v1")
    with pytest.raises(ReplicationError) as info:
        copy_between(source, servers(FakeRegistry), retry=retry)
    assert off_loopback == []
    assert not info.value.retryable, "a realm that can never be used is not worth retrying"


@pytest.mark.parametrize("location", METADATA_URLS)
def test_a_blob_redirect_to_a_metadata_address_is_refused(
    location: str, servers, retry, off_loopback
) -> None:
    source = servers(FakeRegistry)
    source.push_image("app", "v1", layers=[b"one layer"])
    source.script(
        lambda seen: seen.method == "GET" and "/blobs/sha256:" in seen.target,
        Reply(307, [("Location", location)]),
    )
    with pytest.raises(ReplicationError):
        copy_between(source, servers(FakeRegistry), retry=retry)
    assert off_loopback == []


# A DNS name can point anywhere: the address is checked on the connection itself. Tests contact
# nothing off 127.0.0.1, so 127.0.0.1 plays the metadata address here and a patched resolver
# points the registry's name at it; the decoy behind it records whatever reaches it.
METADATA_NAME = "instance-data.hostile.test"


@pytest.fixture
def metadata_name(monkeypatch: pytest.MonkeyPatch) -> str:
    resolve = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return resolve("127.0.0.1" if host == METADATA_NAME else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    played = ipaddress.ip_network("127.0.0.1/32")
    monkeypatch.setattr(urls, "METADATA_NETWORKS", (*urls.METADATA_NETWORKS, played))
    return METADATA_NAME


def test_a_blob_redirect_to_a_name_that_resolves_to_a_metadata_address_sends_nothing(
    metadata_name: str, servers, retry
) -> None:
    decoy = servers(FakeRegistry)
    source = servers(FakeRegistry)
    source.push_image("app", "v1", layers=[b"one layer"])
    port = decoy.host.rsplit(":", 1)[1]
    source.script(
        lambda seen: seen.method == "GET" and "/blobs/sha256:" in seen.target,
        Reply(307, [("Location", f"http://{metadata_name}:{port}/latest/meta-data/")]),
    )
    with pytest.raises(RegistryProtocolError) as info:
        copy_between(source, servers(FakeRegistry), retry=retry)
    assert "metadata address" in str(info.value) and not info.value.retryable
    assert decoy.seen() == []


def test_a_token_realm_on_a_name_that_resolves_to_a_metadata_address_sends_nothing(
    metadata_name: str, servers, retry
) -> None:
    decoy = servers(FakeRegistry)
    port = decoy.host.rsplit(":", 1)[1]
    source = servers(FakeRegistry, auth=("bearer", "u", "p"), realm=f"http://{metadata_name}:{port}/token")
    source.push_image("app", "v1")
    with pytest.raises(RegistryProtocolError):
        copy_between(source, servers(FakeRegistry), retry=retry)
    assert decoy.seen() == []


# --- 4. a registry that echoes our credentials in a form the scrubber does not know ----------

USER, PASSWORD = "user", "s3cr3t-password"
B64 = "dXNlcjpzM2NyM3QtcGFzc3dvcmQ="  # base64 of user:s3cr3t-password


@pytest.mark.parametrize(
    "echo",
    [f"request authorization=Basic%20{B64} refused", f"bad password {PASSWORD} for {USER}", f"Basic:{B64}"],
)
def test_credentials_echoed_by_a_registry_never_reach_the_error(echo: str, servers, retry) -> None:
    source = servers(FakeRegistry, auth=("basic", USER, PASSWORD))
    source.push_image("app", "v1")
    source.script(manifest_get, Reply.error(400, "DENIED", echo))
    with pytest.raises(RegistryError) as info:
        copy_between(
            source,
            servers(FakeRegistry),
            credentials=StaticCredentials({source.host: (USER, PASSWORD)}),
            retry=retry,
        )
    assert B64[:12] not in str(info.value) and PASSWORD not in str(info.value), str(info.value)
