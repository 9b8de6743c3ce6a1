"""The local "S3" host that serves layer blobs after the front's 307, as ECR's layer bucket does.

The front answers a blob GET with ``307`` to a presigned-style URL on this host (query
``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``, ``X-Amz-Expires``,
``X-Amz-SignedHeaders``, ``X-Amz-Signature``), signed with a per-run secret over the method,
host, path and query. The host refuses what S3 refuses: a request that also carries an
``Authorization`` header (400 ``InvalidArgument``, the classic client bug of forwarding
registry credentials across the redirect), a missing or partial signature, a wrong one (403
``SignatureDoesNotMatch``), an expired one (403 ``AccessDenied`` "Request has expired").
Blobs are read from the region registry's storage directory when the front is given it
(``blob_store.py``: S3 is ECR's storage, the layer host reads it as S3 reads its own), else
fetched from the registry over http; ``Range`` is honoured either way.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from ecr_replicate_local.ecr_front import answers
from ecr_replicate_local.ecr_front.answers import Answer
from ecr_replicate_local.ecr_front.blob_store import BlobStore, Unsatisfiable, byte_range
from ecr_replicate_local.ecr_front.routes import DIGEST, valid_repository_name
from ecr_replicate_local.ecr_front.upstream import Upstream, UpstreamUnavailable, answer_from

logger = logging.getLogger(__name__)

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_EXPIRES = 604_800  # SigV4 presigned URLs live at most a week
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
QUERY_FIELDS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)
S3_ANSWER_HEADERS = {"content-length", "content-range", "accept-ranges", "etag"}


class Presigner:
    """Makes and checks the presigned-style URLs of one region's layer bucket."""

    def __init__(
        self,
        region: str,
        ttl: int = 3600,
        *,
        clock: Callable[[], float] = time.time,
        secret: bytes | None = None,
    ) -> None:
        if not 1 <= ttl <= MAX_EXPIRES:
            raise ValueError(f"blob URL lifetime must be 1..{MAX_EXPIRES} seconds")
        self.region = region
        self.ttl = ttl
        self.bucket = f"prod-{region}-starport-layer-bucket"
        self._clock = clock
        self._secret = secret or secrets.token_bytes(32)

    def _signature(self, method: str, host: str, path: str, fields: Iterable[tuple[str, str]]) -> str:
        canonical = "\n".join(
            [method, host, path, urlencode(sorted((k, v) for k, v in fields if k != "X-Amz-Signature"))]
        )
        return hmac.new(self._secret, canonical.encode(), hashlib.sha256).hexdigest()

    def path(self, repository: str, digest: str) -> str:
        return f"/{self.bucket}/{quote(repository)}/{digest}"

    def url(self, host: str, repository: str, digest: str) -> str:
        now = datetime.fromtimestamp(self._clock(), UTC)
        fields = [
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", f"ASIALOCALTWIN/{now:%Y%m%d}/{self.region}/s3/aws4_request"),
            ("X-Amz-Date", now.strftime(DATE_FORMAT)),
            ("X-Amz-Expires", str(self.ttl)),
            ("X-Amz-SignedHeaders", "host"),
        ]
        path = self.path(repository, digest)
        fields.append(("X-Amz-Signature", self._signature("GET", host, path, fields)))
        return f"https://{host}{path}?{urlencode(fields)}"

    def check(self, method: str, host: str, path: str, query: str) -> Answer | None:
        """None when the request's signature is good and live; else S3's refusal."""
        fields = parse_qsl(query, keep_blank_values=True)
        given = dict(fields)
        if not any(name in given for name in QUERY_FIELDS):
            return answers.s3_error(403, "AccessDenied", "Access Denied")
        if any(name not in given for name in QUERY_FIELDS) or given["X-Amz-Algorithm"] != ALGORITHM:
            return answers.s3_error(
                400,
                "AuthorizationQueryParametersError",
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
            )
        expected = self._signature(method, host, path, fields)
        if not hmac.compare_digest(expected, given["X-Amz-Signature"]):
            return answers.s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
            )
        try:
            signed = datetime.strptime(given["X-Amz-Date"], DATE_FORMAT).replace(tzinfo=UTC).timestamp()
            expires = int(given["X-Amz-Expires"])
        except ValueError:
            return answers.s3_error(403, "AccessDenied", "Access Denied")
        now = self._clock()
        if now > signed + expires:
            return answers.s3_error(
                403,
                "AccessDenied",
                "Request has expired",
                **{
                    "X-Amz-Expires": str(expires),
                    "Expires": datetime.fromtimestamp(signed + expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "ServerTime": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            )
        return None

    def blob_of(self, path: str) -> tuple[str, str] | None:
        """(repository, digest) of a path this presigner makes; None for any other path."""
        prefix = f"/{self.bucket}/"
        if not path.startswith(prefix):
            return None
        repository, _, digest = unquote(path[len(prefix) :]).rpartition("/")
        if not valid_repository_name(repository) or not DIGEST.fullmatch(digest):
            return None
        return repository, digest


class S3App:
    """The WSGI app of the layer host."""

    def __init__(self, presigner: Presigner, upstream: Upstream, store: BlobStore | None = None) -> None:
        self.presigner = presigner
        self.upstream = upstream
        self.store = store
        self.host = ""  # set once the server has its port

    def __call__(self, environ: Mapping[str, Any], start_response: Any) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        answer = self.answer(environ)
        logger.debug("s3 %s %s -> %s", method, self.presigner.bucket, answer.status)
        start_response(answer.status_line, answer.headers)
        if method == "HEAD" and answer.stream is not None:
            getattr(answer.stream, "close", lambda: None)()
            return []
        return answer.stream if answer.stream is not None else [answer.body]

    def answer(self, environ: Mapping[str, Any]) -> Answer:
        if environ.get("HTTP_AUTHORIZATION") is not None:
            return answers.s3_two_auth_mechanisms()
        method = environ["REQUEST_METHOD"]
        raw_path = environ.get("RAW_URI", "").split("?", 1)[0]
        refused = self.presigner.check(method, self.host, raw_path, environ.get("QUERY_STRING", ""))
        if refused is not None:
            return refused
        blob = self.presigner.blob_of(raw_path)
        if blob is None or method not in ("GET", "HEAD"):
            return answers.s3_error(404, "NoSuchKey", "The specified key does not exist.")
        repository, digest = blob
        if self.store is not None:
            return self._from_store(self.store, repository, digest, environ.get("HTTP_RANGE"))
        return self._from_registry(method, repository, digest, environ.get("HTTP_RANGE"))

    def _from_registry(self, method: str, repository: str, digest: str, range_header: str | None) -> Answer:
        """The blob as the region's registry serves it (a front not given its storage)."""
        headers = {"Range": range_header} if range_header else {}
        try:
            response = self.upstream.request(method, f"/v2/{repository}/blobs/{digest}", headers)
        except UpstreamUnavailable:
            return answers.s3_error(503, "ServiceUnavailable", "Please reduce your request rate.")
        if response.status not in (200, 206):
            response.release_conn()
            return answers.s3_error(404, "NoSuchKey", "The specified key does not exist.")
        relayed = answer_from(response)
        relayed.headers = [(k, v) for k, v in relayed.headers if k.lower() in S3_ANSWER_HEADERS]
        relayed.headers += [("Content-Type", "application/octet-stream"), ("Server", "AmazonS3")]
        return relayed

    @staticmethod
    def _from_store(store: BlobStore, repository: str, digest: str, range_header: str | None) -> Answer:
        """The blob's bytes from the registry's storage: 200, or 206 for one range, or 416."""
        blob = store.open(repository, digest)
        if blob is None:
            return answers.s3_error(404, "NoSuchKey", "The specified key does not exist.")
        headers = [
            ("Accept-Ranges", "bytes"),
            ("ETag", f'"{digest}"'),
            ("Content-Type", "application/octet-stream"),
            ("Server", "AmazonS3"),
        ]
        try:
            part = byte_range(range_header, blob.size)
        except Unsatisfiable:
            blob.close()
            refused = answers.s3_error(
                416,
                "InvalidRange",
                "The requested range is not satisfiable",
                RangeRequested=range_header or "",
                ActualObjectSize=str(blob.size),
            )
            refused.headers.append(("Content-Range", f"bytes */{blob.size}"))
            return refused
        first, last = part if part is not None else (0, blob.size - 1)
        length = last - first + 1
        headers.append(("Content-Length", str(length)))
        if part is None:
            return Answer(200, headers, stream=blob.part(0, blob.size))
        headers.append(("Content-Range", f"bytes {first}-{last}/{blob.size}"))
        return Answer(206, headers, stream=blob.part(first, length))
