"""Webhook bridge: distribution notification envelopes -> ECR ``Image Action`` events."""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
from typing import Any

import pytest

from ecr_replicate_local.webhook import WebhookBridge, ecr_event_from_notification, execution_name

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DIGEST = "sha256:dd23a676b99bc4323c14349d65ed5e3c879e429d3e3c96364fd9e3de8b96fc27"
CHILD = "sha256:b586552c4e45311faf80fca42e69789743114b25d313fe2b6c4aeb44967aa5d9"


def notification(
    event_id: str, *, action: str = "push", media_type: str = INDEX, digest: str = DIGEST,
    tag: str | None = "v1", repository: str = "team/app",
) -> dict[str, Any]:
    """One event as distribution 2.8 sends it (shape captured from docker-registry)."""
    target: dict[str, Any] = {
        "mediaType": media_type, "size": 304, "digest": digest, "length": 304,
        "repository": repository,
        "url": f"http://127.0.0.1:5000/v2/{repository}/manifests/{digest}",
    }
    if tag is not None:
        target["tag"] = tag
    return {
        "id": event_id, "timestamp": "2026-11-28T18:30:24.704618616Z", "action": action,
        "target": target,
        "request": {"id": "r", "addr": "127.0.0.1:1", "host": "127.0.0.1:5000", "method": "PUT",
                    "useragent": ""},
        "actor": {}, "source": {"addr": "vm:5000", "instanceID": "i"},
    }


def post(url: str, body: bytes) -> int:
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("POST", "/events", body=body,
                     headers={"Content-Type": "application/vnd.docker.distribution.events.v1+json"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_tagged_manifest_push_becomes_the_exact_ecr_event() -> None:
    event = ecr_event_from_notification(notification("5c04d6ae"), account="123456789012",
                                        region="us-east-1")
    assert event is not None
    again = ecr_event_from_notification(notification("5c04d6ae"), account="123456789012", region="us-east-1")
    assert again is not None and again["id"] == event["id"]  # deterministic: redeliveries keep their id
    assert len(event.pop("id")) == 36
    assert event == {
        "version": "0",
        "detail-type": "ECR Image Action",
        "source": "aws.ecr",
        "account": "123456789012",
        "time": "2026-11-28T18:30:24Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "result": "SUCCESS",
            "repository-name": "team/app",
            "image-digest": DIGEST,
            "action-type": "PUSH",
            "image-tag": "v1",
            "manifest-media-type": INDEX,
        },
    }


def test_push_by_digest_has_no_image_tag() -> None:
    event = ecr_event_from_notification(notification("a", media_type=MANIFEST, digest=CHILD, tag=None),
                                        account="1", region="eu-west-1")
    assert event is not None
    assert "image-tag" not in event["detail"]
    assert event["detail"]["image-digest"] == CHILD
    assert event["detail"]["manifest-media-type"] == MANIFEST


@pytest.mark.parametrize(
    "item",
    [
        notification("b", media_type="application/octet-stream", tag=None),  # a blob push
        notification("p", action="pull"),  # a manifest HEAD/GET
        {"id": "x", "action": "push"},  # no target
        {"id": "y", "action": "delete", "target": {"repository": "team/app", "tag": "v1"}},  # no digest
    ],
)
def test_other_events_are_ignored(item: dict[str, Any]) -> None:
    assert ecr_event_from_notification(item, account="1", region="us-east-1") is None


def test_a_manifest_deletion_is_a_delete_event() -> None:
    event = ecr_event_from_notification(notification("d", action="delete"), account="1", region="eu-west-1")
    assert event is not None
    assert event["detail"]["action-type"] == "DELETE"
    assert event["region"] == "eu-west-1"
    assert "image-tag" not in event["detail"] and "manifest-media-type" not in event["detail"]


def test_execution_name_is_deterministic_and_valid() -> None:
    event = ecr_event_from_notification(notification("z"), account="1", region="us-east-1")
    assert event is not None
    name = execution_name(event)
    assert name == execution_name(dict(event))
    assert len(name) <= 80 and all(c.isalnum() or c in "-_" for c in name)


def test_server_answers_fast_dedupes_redeliveries_and_survives_callback_errors() -> None:
    received: list[dict[str, Any]] = []
    release = threading.Event()

    def callback(event: dict[str, Any]) -> None:
        release.wait(10)  # a slow consumer must not delay the HTTP answer
        if event["detail"].get("image-tag") == "boom":
            raise RuntimeError("engine down")
        received.append(event)

    with WebhookBridge(callback, account="123456789012", region="us-east-1") as bridge:
        assert bridge.url.startswith("http://127.0.0.1:")
        envelope = {"events": [
            notification("blob-1", media_type="application/octet-stream", tag=None),
            notification("child-1", media_type=MANIFEST, digest=CHILD, tag=None),
            notification("boom-1", tag="boom"),
            notification("index-1"),
        ]}
        body = json.dumps(envelope).encode()
        assert post(bridge.url, body) == 200  # answered while the callback is blocked
        assert post(bridge.url, body) == 200  # distribution redelivers the same envelope
        assert post(bridge.url, b"not json") == 400
        assert post(bridge.url, b'{"nope": 1}') == 400
        release.set()
        assert bridge.wait_idle(10)
        assert [e["detail"].get("image-tag") for e in received] == [None, "v1"]
        assert len(bridge.events) == 3
        assert bridge.errors == ["RuntimeError: engine down"]


def test_a_registry_resetting_its_connection_mid_request_prints_no_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A registry stopped while it delivers (``local up`` restarts, the benchmark empties the
    targets) resets the connection: the bridge logs it, prints no traceback, and keeps serving."""
    with WebhookBridge(lambda event: None, account="123456789012", region="us-east-1") as bridge:
        host, port = bridge.url.split("//", 1)[1].split("/", 1)[0].split(":")
        sock = socket.create_connection((host, int(port)), timeout=5)
        sock.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"ev")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST: the handler's read of the body ends in ConnectionResetError
        assert post(bridge.url, json.dumps({"events": []}).encode()) == 200
    assert "Traceback" not in capsys.readouterr().err
