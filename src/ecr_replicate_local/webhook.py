"""Webhook bridge: distribution notifications -> EventBridge ``ECR Image Action`` events.

Each region's registry (CNCF distribution) posts ``{"events": [...]}`` envelopes to its
``notifications.endpoints``. For every manifest push or deletion in them this bridge builds the
event ECR would send to EventBridge (``source: aws.ecr``, ``detail-type: ECR Image Action``,
``action-type`` PUSH or DELETE) and hands it
to a callback: locally, ``LocalAws.deliver_event``, which starts the rule's target (the state
machine) as EventBridge does on AWS, with the same input.

A pushed OCI manifest with a ``subject`` (an OCI 1.1 referrer: a signature, an SBOM) becomes an
``ECR Referrer Action`` event instead, as ECR sends for one: the bridge asks ``subject_of`` (the
environment reads the pushed manifest from the registry) for every pushed OCI manifest.

The HTTP server listens on 127.0.0.1 only, answers 200 as soon as the body is parsed, and does
the work on one worker thread. Distribution redelivers an envelope it could not confirm; events
are deduplicated by their ``id``.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_cli.dead_letters import execution_name

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
EVENTS_PATH = "/events"
MAX_BODY_BYTES = 4 * 1024 * 1024
SEEN_IDS_KEPT = 10_000

#: Manifest media types a push event can carry (blobs are ``application/octet-stream``).
MANIFEST_MEDIA_TYPES = frozenset(
    {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)

#: Manifest types that can carry an OCI 1.1 ``subject`` (Docker's cannot).
SUBJECT_MEDIA_TYPES = frozenset(
    {"application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json"}
)
ECR_REFERRER_ACTION = "ECR Referrer Action"

# A fixed namespace: the same distribution event id always yields the same EventBridge id.
_EVENT_ID_NAMESPACE = uuid.UUID("5d0c8a52-3b4e-4f0e-9a43-3f3c2f6e9b1d")

EventCallback = Callable[[dict[str, Any]], object]
#: The subject digest of the manifest an event's push names (None: no subject, not a referrer).
SubjectLookup = Callable[[dict[str, Any]], str | None]
__all__ = [
    "WebhookBridge",
    "ecr_event_from_notification",
    "execution_name",
    "is_manifest_push",
    "referrer_event",
]


def _ecr_time(timestamp: object) -> str:
    """Distribution's RFC 3339 nanosecond timestamp -> EventBridge's ``YYYY-MM-DDTHH:MM:SSZ``."""
    if isinstance(timestamp, str) and len(timestamp) >= 19:
        try:
            parsed = datetime.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S")
            return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            pass
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_manifest_push(notification: dict[str, Any]) -> bool:
    """True for a distribution ``push`` event whose target is a manifest (by tag or digest)."""
    if notification.get("action") != "push":
        return False
    target = notification.get("target")
    if not isinstance(target, dict):
        return False
    return (
        target.get("mediaType") in MANIFEST_MEDIA_TYPES
        and isinstance(target.get("repository"), str)
        and isinstance(target.get("digest"), str)
    )


def is_manifest_delete(notification: dict[str, Any]) -> bool:
    """True for a distribution ``delete`` event of a manifest (by digest: blobs are never deleted here)."""
    target = notification.get("target")
    return (
        notification.get("action") == "delete"
        and isinstance(target, dict)
        and isinstance(target.get("repository"), str)
        and str(target.get("digest", "")).startswith("sha256:")
    )


def ecr_event_from_notification(
    notification: dict[str, Any], *, account: str, region: str
) -> dict[str, Any] | None:
    """The ``ECR Image Action`` event (PUSH or DELETE) for one distribution event, or None if it
    is neither a manifest push nor a manifest deletion."""
    pushed = is_manifest_push(notification)
    if not pushed and not is_manifest_delete(notification):
        return None
    target: dict[str, Any] = notification["target"]
    source_id = str(notification.get("id") or target["digest"])
    detail: dict[str, Any] = {
        "result": "SUCCESS",
        "repository-name": target["repository"],
        "image-digest": target["digest"],
        "action-type": "PUSH" if pushed else "DELETE",
    }
    tag = target.get("tag")
    if pushed and isinstance(tag, str) and tag:
        detail["image-tag"] = tag
    if pushed:
        detail["manifest-media-type"] = target["mediaType"]
    return {
        "version": "0",
        "id": str(uuid.uuid5(_EVENT_ID_NAMESPACE, source_id)),
        "detail-type": "ECR Image Action",
        "source": "aws.ecr",
        "account": account,
        "time": _ecr_time(notification.get("timestamp")),
        "region": region,
        "resources": [],
        "detail": detail,
    }


def referrer_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event ECR sends for a pushed manifest with a ``subject``: the same fields, detail-type
    ``ECR Referrer Action`` (AWS's documented shape: ``action-type``, ``image-digest`` of the
    referrer, ``repository-name``, ``result``, the media types; the subject is not named)."""
    return {**event, "detail-type": ECR_REFERRER_ACTION}


def may_be_referrer(event: dict[str, Any]) -> bool:
    detail = event["detail"]
    return detail.get("action-type") == "PUSH" and detail.get("manifest-media-type") in SUBJECT_MEDIA_TYPES


class _Handler(BaseHTTPRequestHandler):
    server: _BridgeServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self._answer(413 if length > MAX_BODY_BYTES else 400, "bad Content-Length")
            return
        body = self.rfile.read(length)
        try:
            envelope = json.loads(body)
        except ValueError:
            self._answer(400, "body is not JSON")
            return
        events = envelope.get("events") if isinstance(envelope, dict) else None
        if not isinstance(events, list):
            self._answer(400, 'expected {"events": [...]}')
            return
        for item in events:
            if isinstance(item, dict):
                self.server.bridge.enqueue(item)
        self._answer(200, "")

    def do_GET(self) -> None:
        self._answer(200, "ok")

    def _answer(self, status: int, message: str) -> None:
        data = message.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # a registry stopped while we answered
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("webhook %s", format % args)


class _BridgeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, bridge: WebhookBridge, port: int) -> None:
        self.bridge = bridge
        super().__init__((LOOPBACK, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A registry that went away mid-request (stopped, restarted, reset) is logged, not
        printed as a traceback; anything else is still socketserver's traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("webhook: a registry's connection ended early", exc_info=True)
            return
        super().handle_error(request, client_address)


class WebhookBridge:
    """Receives distribution notifications on 127.0.0.1 and turns manifest pushes into ECR events.

    ``callback(event)`` runs on the bridge's worker thread, once per distinct distribution event.
    Its exceptions are logged, never raised into the HTTP server. ``subject_of(event)``: the
    subject of the pushed manifest, asked for each OCI manifest push (a referrer's event is then
    an ``ECR Referrer Action``).
    """

    def __init__(
        self,
        callback: EventCallback,
        *,
        account: str,
        region: str,
        port: int = 0,
        subject_of: SubjectLookup | None = None,
    ) -> None:
        self.callback = callback
        self.subject_of = subject_of
        self.account = account
        self.region = region
        self._port = port
        self._server: _BridgeServer | None = None
        self._threads: list[threading.Thread] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []  # ECR events handed to the callback, in order
        self.errors: list[str] = []

    @property
    def port(self) -> int:
        if self._server is None:
            raise ConfigurationError("webhook bridge is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The endpoint URL to configure in the registry's ``notifications.endpoints``."""
        return f"http://{LOOPBACK}:{self.port}{EVENTS_PATH}"

    def start(self) -> WebhookBridge:
        if self._server is not None:
            return self
        self._server = _BridgeServer(self, self._port)
        serve = threading.Thread(  # a short poll: stop() returns within 0.1 s
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="webhook-http", daemon=True
        )
        work = threading.Thread(target=self._work, name="webhook-worker", daemon=True)
        self._threads = [serve, work]
        serve.start()
        work.start()
        logger.debug("webhook bridge listening on %s", self.url)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def __enter__(self) -> WebhookBridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def enqueue(self, notification: dict[str, Any]) -> None:
        """Queue one distribution event (called by the HTTP handler; returns at once)."""
        self._queue.put(notification)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event has been handled; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return self._queue.unfinished_tasks == 0

    def _first_time(self, event_id: str) -> bool:
        with self._lock:
            if event_id in self._seen:
                return False
            self._seen[event_id] = None
            while len(self._seen) > SEEN_IDS_KEPT:
                self._seen.popitem(last=False)
            return True

    def _work(self) -> None:
        while True:
            notification = self._queue.get()
            try:
                if notification is None:
                    return
                self.handle(notification)
            finally:
                self._queue.task_done()

    def handle(self, notification: dict[str, Any]) -> dict[str, Any] | None:
        """Convert one distribution event and call the callback; None if skipped or a duplicate."""
        event = ecr_event_from_notification(notification, account=self.account, region=self.region)
        if event is None:
            return None
        if not self._first_time(str(notification.get("id") or event["id"])):
            logger.debug("webhook: duplicate event %s ignored", notification.get("id"))
            return None
        if self.subject_of is not None and may_be_referrer(event):
            try:
                subject = self.subject_of(event)
            except Exception as exc:  # an image pushed and gone at once: an Image Action, as ECR's
                logger.warning("webhook: could not read the manifest of event %s: %s", event["id"], exc)
                subject = None
            if subject is not None:
                event = referrer_event(event)
        with self._lock:
            self.events.append(event)
        try:
            self.callback(event)
        except Exception as exc:  # the bridge must keep serving; the failure is reported
            logger.warning("webhook: callback failed for event %s: %s", event["id"], exc)
            with self._lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")
        return event

