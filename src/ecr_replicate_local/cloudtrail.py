"""CloudTrail's side of a push, for the template's ``CloudTrailTrigger``.

On AWS every ``PutImage`` is also recorded by CloudTrail, whose ``AWS API Call via CloudTrail``
event reaches EventBridge (with a trail logging management events). The template's
``CloudTrailPutImageRule`` (only with ``CloudTrailTrigger=true``) starts the workflow on it: each
push then runs twice, once per event, as the parameter's description warns.

Locally every manifest push to the source registry becomes such an event too
(:func:`put_image_event`), and it is delivered to EventBridge's rules only when one matches it
(with ``CloudTrailTrigger=false`` none does: nothing happens, as on AWS). It is delivered after the
runs the push's own ECR event started have ended (:class:`AfterRuns`, bounded by
:data:`LATEST_DELIVERY`): CloudTrail records the call before it emits the event, so on AWS it
reaches EventBridge later than ECR's own event, usually after a small image's run has ended. The
second run then finds every blob and the tag in place and copies nothing. Had the two runs
overlapped, each would copy what the target still lacked; the result would be the same image.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

logger = logging.getLogger(__name__)

CLOUDTRAIL_API_CALL = "AWS API Call via CloudTrail"
LATEST_DELIVERY = 300.0  # seconds after the push at the latest, even if its first run is still going
_POLL = 0.2
_ID_NAMESPACE = uuid.UUID("0b6c3c55-1f0e-4b7f-8d8e-6a4d0f2f5a17")


def put_image_event(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``AWS API Call via CloudTrail`` event of the ``PutImage`` an ECR push event reports
    (None for anything but a successful push). Deterministic: one push, one CloudTrail event id."""
    detail = event.get("detail") or {}
    if detail.get("action-type") != "PUSH" or detail.get("result") != "SUCCESS":
        return None
    account, region = str(event["account"]), str(event["region"])
    repository, digest = str(detail["repository-name"]), str(detail["image-digest"])
    tag = detail.get("image-tag")
    media_type = detail.get("manifest-media-type")
    reference: dict[str, str] = {"imageTag": str(tag)} if tag else {"imageDigest": digest}
    image_id: dict[str, str] = {"imageDigest": digest, **({"imageTag": str(tag)} if tag else {})}
    request: dict[str, Any] = {"registryId": account, "repositoryName": repository, **reference}
    response: dict[str, Any] = {"registryId": account, "repositoryName": repository, "imageId": image_id}
    if media_type:
        request["imageManifestMediaType"] = response["imageManifestMediaType"] = str(media_type)
    event_id = str(uuid.uuid5(_ID_NAMESPACE, str(event["id"])))
    return {
        "version": "0",
        "id": event_id,
        "detail-type": CLOUDTRAIL_API_CALL,
        "source": "aws.ecr",
        "account": account,
        "time": event.get("time"),
        "region": region,
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            # people push to the bare registry without credentials: no IAM identity to name
            "userIdentity": {"type": "Unknown", "accountId": account},
            "eventTime": event.get("time"),
            "eventSource": "ecr.amazonaws.com",
            "eventName": "PutImage",
            "awsRegion": region,
            "sourceIPAddress": "127.0.0.1",
            "userAgent": "docker-registry (ecr-replicate local twin)",
            "requestParameters": request,
            "responseElements": {"image": response},
            "requestID": str(uuid.uuid5(_ID_NAMESPACE, f"request:{event_id}")),
            "eventID": event_id,
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": account,
            "eventCategory": "Management",
        },
    }


class AfterRuns:
    """Delivers each submitted event once the executions it follows have ended (or
    :data:`LATEST_DELIVERY` seconds after it was submitted), in order, on one thread."""

    def __init__(
        self,
        deliver: Callable[[dict[str, Any]], object],
        ended: Callable[[str], bool],
        *,
        latest: float = LATEST_DELIVERY,
    ) -> None:
        self._deliver = deliver
        self._ended = ended
        self._latest = latest
        self._queue: queue.Queue[tuple[dict[str, Any], tuple[str, ...], float] | None] = queue.Queue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._work, name="cloudtrail-events", daemon=True)
        self._thread.start()

    def submit(self, event: dict[str, Any], after: Sequence[str]) -> None:
        self._queue.put((event, tuple(after), time.monotonic() + self._latest))

    def stop(self) -> None:
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self._stopping.is_set():
                return
            event, after, deadline = item
            pending = list(after)
            while pending and time.monotonic() < deadline and not self._stopping.is_set():
                pending = [arn for arn in pending if not self._safely_ended(arn)]
                if pending:
                    self._stopping.wait(_POLL)
            if self._stopping.is_set():
                return
            try:
                self._deliver(event)
            except Exception as exc:  # retried and dead-lettered by the delivery; the feed goes on
                logger.warning("CloudTrail PutImage event %s not delivered: %s", event["id"], exc)

    def _safely_ended(self, arn: str) -> bool:
        try:
            return self._ended(arn)
        except Exception as exc:  # the local AWS stopping: stop waiting for this run
            logger.debug("cannot tell whether %s ended: %s", arn, exc)
            return True
