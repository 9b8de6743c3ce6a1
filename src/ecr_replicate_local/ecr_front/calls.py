"""The registry calls, once a request is authenticated and authorised: ECR's differences from
docker-registry, applied on the way through.

- manifest PUT: at most 4 MiB and valid JSON (else 405 ``UNSUPPORTED``, ECR's validation
  answer); an existing tag of an immutable repository is refused (400 ``TAG_INVALID``), even
  with the same digest;
- blob GET: ``307`` to the layer host (``s3.py``), never the bytes themselves;
- upload POST: cross-repository mounting only when enabled (ECR's opt-in account setting);
  otherwise the ``mount``/``from`` parameters are ignored and a normal session starts (202);
- upload PATCH: ``201`` (ECR), and the ``Range`` of every later PATCH of a session repeats the
  first one's (aws/containers-roadmap#2831);
- tags/list, _catalog: ECR's pagination (``pagination.py``), ``text/plain`` tag lists.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from ecr_replicate_local.ecr_front import answers
from ecr_replicate_local.ecr_front.answers import Answer
from ecr_replicate_local.ecr_front.contracts import RepositoryInfo
from ecr_replicate_local.ecr_front.pagination import Page, Paginator, next_link
from ecr_replicate_local.ecr_front.routes import Route, valid_repository_name
from ecr_replicate_local.ecr_front.s3 import Presigner
from ecr_replicate_local.ecr_front.upstream import (
    Upstream,
    answer_from,
    discard,
    forward_headers,
    request_body,
)

MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # ECR's imageManifest: at most 4,194,304 characters
UPLOAD_SESSIONS_KEPT = 10_000
TAG_LOCKS = 64
#: docker-registry hides a manifest from a client that does not accept its media type
ANY_MANIFEST = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "*/*",
    ]
)


def _content_length(environ: Mapping[str, Any]) -> int | None:
    value = environ.get("CONTENT_LENGTH")
    if value in (None, ""):
        return None
    try:
        return max(0, int(value))
    except ValueError:
        return None


def _has_body(environ: Mapping[str, Any]) -> bool:
    return bool(environ.get("wsgi.input_terminated")) or bool(_content_length(environ))


class Calls:
    def __init__(
        self,
        *,
        upstream: Upstream,
        presigner: Presigner,
        blob_mounting: bool = False,
        paginator: Paginator | None = None,
    ) -> None:
        self.upstream = upstream
        self.presigner = presigner
        self.blob_mounting = blob_mounting
        self.paginator = paginator or Paginator()
        self.host = ""  # the front's own host:port, set at start
        self.s3_host = ""
        self._first_ranges: OrderedDict[str, str] = OrderedDict()
        self._ranges_lock = threading.Lock()
        self._tag_locks = [threading.Lock() for _ in range(TAG_LOCKS)]

    # -- helpers ------------------------------------------------------------------------------

    def _location(self, value: str) -> str:
        """An upstream ``Location`` as the client must use it: on the front, over https."""
        parts = urlsplit(value)
        if parts.netloc and parts.netloc != self.upstream.host:
            return value
        return f"https://{self.host}{parts.path}" + (f"?{parts.query}" if parts.query else "")

    def _body(self, environ: Mapping[str, Any]) -> tuple[Iterator[bytes] | None, bool, dict[str, str]]:
        """The request body to forward: (pieces, chunked, extra headers)."""
        if not _has_body(environ):
            return None, False, {"Content-Length": "0"}
        stream = environ["wsgi.input"]
        length = None if environ.get("wsgi.input_terminated") else _content_length(environ)
        if length is None:
            return request_body(stream, None), True, {}
        return request_body(stream, length), False, {"Content-Length": str(length)}

    @staticmethod
    def _path(route: Route, section: str) -> str:
        return f"/v2/{route.repository}/{section}/{route.reference}"

    # -- relayed calls ------------------------------------------------------------------------

    def relay(self, method: str, route: Route, environ: Mapping[str, Any]) -> Answer:
        """manifest GET/HEAD/DELETE, blob HEAD, referrers: as docker-registry answers them."""
        section = {"manifest": "manifests", "blob": "blobs", "referrers": "referrers"}[route.kind.value]
        response = self.upstream.request(method, self._path(route, section), forward_headers(environ))
        return answer_from(response, location=self._location, whole=method == "HEAD")

    def blob_url(self, route: Route) -> Answer:
        """blob GET: 307 to a presigned URL of the layer host, if the blob is there."""
        response = self.upstream.request("HEAD", self._path(route, "blobs"))
        discard(response)
        if response.status != 200:
            return answers.oci_error(404, "BLOB_UNKNOWN", f"blob unknown to registry: {route.reference}")
        url = self.presigner.url(self.s3_host, route.repository, route.reference)
        return Answer(
            307,
            [("Location", url), ("Content-Length", "0"), answers.API_VERSION_HEADER],
            reason="redirect to the layer host",
        )

    def put_manifest(self, route: Route, environ: Mapping[str, Any], info: RepositoryInfo) -> Answer:
        length = _content_length(environ)
        if length is not None and length > MAX_MANIFEST_BYTES:
            return _too_large()
        stream = environ["wsgi.input"]
        data = bytearray()
        for piece in request_body(stream, length):
            data += piece
            if len(data) > MAX_MANIFEST_BYTES:
                return _too_large()
        try:
            json.loads(data)
        except ValueError:
            return answers.invalid_parameter("ImageManifest", "Invalid JSON syntax")
        path = self._path(route, "manifests")
        headers = forward_headers(environ)
        headers["Content-Length"] = str(len(data))
        if route.reference_is_digest or not info.tag_is_immutable(route.reference):
            return answer_from(
                self.upstream.request("PUT", path, headers, bytes(data)), location=self._location
            )
        lock = self._tag_locks[
            hashlib.sha256(f"{route.repository}:{route.reference}".encode()).digest()[0] % TAG_LOCKS
        ]
        with lock:
            status, _, _ = self.upstream.read("HEAD", path, {"Accept": ANY_MANIFEST})
            if status == 200:
                return answers.tag_immutable(route.reference, route.repository)
            response = self.upstream.request("PUT", path, headers, bytes(data))
            return answer_from(response, location=self._location, whole=True)

    def mount_source(self, environ: Mapping[str, Any]) -> str | None:
        params = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        source = params.get("from")
        return source if source and "mount" in params and valid_repository_name(source) else None

    def start_upload(self, route: Route, environ: Mapping[str, Any], *, mount: bool) -> Answer:
        params = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if not mount:
            params = [(key, value) for key, value in params if key not in ("mount", "from")]
        query = f"?{urlencode(params)}" if params else ""
        body, chunked, extra = self._body(environ)
        headers = {**forward_headers(environ), **extra}
        response = self.upstream.request(
            "POST", f"/v2/{route.repository}/blobs/uploads/{query}", headers, body, chunked=chunked
        )
        return answer_from(response, location=self._location)

    def upload(self, method: str, route: Route, environ: Mapping[str, Any]) -> Answer:
        """PATCH / PUT / GET / DELETE of an upload session."""
        query = environ.get("QUERY_STRING", "")
        path = self._path(route, "blobs/uploads") + (f"?{query}" if query else "")
        headers = forward_headers(environ)
        body, chunked = None, False
        if method in ("PATCH", "PUT"):
            body, chunked, extra = self._body(environ)
            headers.update(extra)
        response = self.upstream.request(method, path, headers, body, chunked=chunked)
        if method != "PATCH" or response.status != 202:
            if method in ("PUT", "DELETE"):
                self._forget(route.reference)
            return answer_from(response, location=self._location)
        first = self._first_range(route.reference, response.headers.get("Range", ""))
        return answer_from(
            response, location=self._location, status=201, replace={"Range": first} if first else None
        )

    def _first_range(self, upload: str, current: str) -> str:
        with self._ranges_lock:
            first = self._first_ranges.setdefault(upload, current)
            while len(self._first_ranges) > UPLOAD_SESSIONS_KEPT:
                self._first_ranges.popitem(last=False)
            return first

    def _forget(self, upload: str) -> None:
        with self._ranges_lock:
            self._first_ranges.pop(upload, None)

    # -- lists ----------------------------------------------------------------------------------

    def tags(self, route: Route, environ: Mapping[str, Any]) -> Answer:
        status, data, _ = self.upstream.read("GET", f"/v2/{route.repository}/tags/list")
        tags: list[str] = []
        if status == 200:
            try:
                found = json.loads(data).get("tags") or []
            except (ValueError, AttributeError):
                found = []
            tags = [tag for tag in found if isinstance(tag, str)]
        elif status != 404:  # 404: nothing pushed yet; ECR lists an empty repository as such
            return answers.oci_error(503, "UNAVAILABLE", "Service unavailable; retry the request.")
        path = f"/v2/{route.repository}/tags/list"
        return self._listing(
            route.repository, path, "tags", tags, environ, content_type="text/plain; charset=utf-8"
        )

    def catalog(self, names: Sequence[str], environ: Mapping[str, Any]) -> Answer:
        return self._listing(
            "_catalog", "/v2/_catalog", "repositories", list(names), environ, content_type=answers.JSON_TYPE
        )

    def _listing(
        self,
        scope: str,
        path: str,
        key: str,
        entries: list[str],
        environ: Mapping[str, Any],
        *,
        content_type: str,
    ) -> Answer:
        page = self.paginator.page(scope, entries, environ.get("QUERY_STRING", ""))
        if not isinstance(page, Page):
            return page
        document: dict[str, Any] = {key: page.entries}
        if key == "tags":
            document = {"name": scope, "tags": page.entries}
        extra = [next_link(f"https://{self.host}", path, page.next_token)] if page.next_token else []
        return answers.json_answer(200, document, content_type, extra)


def _too_large() -> Answer:
    return answers.invalid_parameter("ImageManifest", "Member must have length less than or equal to 4194304")
