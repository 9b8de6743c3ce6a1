"""Manifest, tag and referrer protocol steps (one small function each)."""

from __future__ import annotations

import json
import re

from ecr_replicate.errors import BlobIntegrityError, ManifestRejectedError, UnsupportedManifestError
from ecr_replicate.oci.blobs import pull_scope, push_scope
from ecr_replicate.oci.manifests import (
    ACCEPT,
    MAX_MANIFEST_BYTES,
    Manifest,
    digest_of,
    parse_manifest,
    verify_digest,
)
from ecr_replicate.oci.reference import Reference
from ecr_replicate.oci.transport import ERROR_BODY_LIMIT, Transport

# patterns are compiled at first use (re caches them): rare paths stay out of start-up
_LINK_NEXT = r'<([^>]+)>\s*;\s*rel="?next"?'
TAG_PAGE_SIZE = 1000
MAX_TAG_PAGES = 1000


def fetch_manifest(transport: Transport, ref: Reference, reference: str | None = None) -> Manifest:
    """GET a manifest by tag or digest; bytes kept exactly, digest verified when asked by digest."""
    wanted = reference or ref.reference
    response = transport.request(
        "GET",
        ref.host,
        f"/v2/{ref.repository}/manifests/{wanted}",
        scope=pull_scope(ref),
        headers={"Accept": ACCEPT},
        ok=(200,),
        what=f"read manifest {ref.host}/{ref.repository}:{wanted[:19]}",
        read=MAX_MANIFEST_BYTES + 1,
    )
    body = response.data
    if len(body) > MAX_MANIFEST_BYTES:
        raise UnsupportedManifestError(f"manifest {wanted} is over the {MAX_MANIFEST_BYTES} bytes limit")
    if ":" in wanted:
        verify_digest(body, wanted)
        digest = wanted
    else:
        digest = digest_of(body)
    return parse_manifest(body, digest, response.header("Content-Type"))


def head_manifest(transport: Transport, ref: Reference, reference: str, *, push: bool = False) -> str | None:
    """The digest a tag/digest resolves to in ``ref``'s repository, or None when absent."""
    response = transport.request(
        "HEAD",
        ref.host,
        f"/v2/{ref.repository}/manifests/{reference}",
        scope=push_scope(ref) if push else pull_scope(ref),
        headers={"Accept": ACCEPT},
        ok=(200, 404),
        what=f"check manifest {ref.host}/{ref.repository}:{reference[:19]}",
    )
    response.close(reuse=True)
    if response.status == 404:
        return None
    found = response.header("Docker-Content-Digest")
    if found:
        return found
    if ":" in reference:
        return reference
    return fetch_manifest(transport, ref, reference).digest


def put_manifest(transport: Transport, ref: Reference, manifest: Manifest, reference: str) -> None:
    """PUT the manifest's exact bytes under ``reference`` (tag or digest); check the stored digest.

    The bytes hash to ``manifest.digest`` (verified when read), so a DIGEST_INVALID answer is the
    registry's own: distribution 2.8 gives it when two writers store the same manifest at the
    same moment (duplicate deliveries replicated concurrently). Such a PUT is retried, within the
    transport's retry policy (tests/reliability/test_duplicate_delivery.py).
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            response = transport.request(
                "PUT",
                ref.host,
                f"/v2/{ref.repository}/manifests/{reference}",
                scope=push_scope(ref),
                headers={"Content-Type": manifest.media_type, "Content-Length": str(len(manifest.body))},
                body=manifest.body,
                ok=(200, 201, 204),
                what=f"write manifest {ref.host}/{ref.repository}:{reference[:19]}",
                read=ERROR_BODY_LIMIT,
            )
            break
        except BlobIntegrityError:
            if attempt >= transport.retry.attempts:
                raise
            transport.retry.wait(attempt)
    stored = response.header("Docker-Content-Digest")
    if stored and stored != manifest.digest:
        raise ManifestRejectedError(
            f"target stored manifest {manifest.digest} as {stored}", host=ref.host, status=response.status
        )


def list_tags(transport: Transport, ref: Reference) -> list[str]:
    """Every tag of the repository (paginated with ``n``/``last`` and the Link header)."""
    tags: list[str] = []
    path: str | None = f"/v2/{ref.repository}/tags/list?n={TAG_PAGE_SIZE}"
    for _ in range(MAX_TAG_PAGES):
        if path is None:
            break
        response = transport.request(
            "GET",
            ref.host,
            path,
            scope=pull_scope(ref),
            ok=(200, 404),
            what=f"list tags of {ref.host}/{ref.repository}",
            read=16 * MAX_MANIFEST_BYTES,
        )
        body = response.data
        if response.status == 404:
            return tags
        try:
            page = json.loads(body).get("tags") or []
        except (ValueError, AttributeError):
            page = []
        page = [tag for tag in page if isinstance(tag, str)]
        tags.extend(page)
        path = _next_tags_page(ref, response.header("Link"), page)
    return tags


def _next_tags_page(ref: Reference, link: str | None, page: list[str]) -> str | None:
    """The next page: the Link header's target, else ``last=`` after a full page, else None."""
    match = re.search(_LINK_NEXT, link or "")
    if match is None and len(page) < TAG_PAGE_SIZE:
        return None
    import urllib.parse  # noqa: PLC0415 - with ipaddress, a tenth of start-up: paid on use

    if match is not None:
        url = urllib.parse.urlsplit(match.group(1))
        return url.path + (f"?{url.query}" if url.query else "")
    return f"/v2/{ref.repository}/tags/list?" + urllib.parse.urlencode({"n": TAG_PAGE_SIZE, "last": page[-1]})


def list_referrers(transport: Transport, ref: Reference, digest: str) -> list[str] | None:
    """Digests of OCI 1.1 referrers of ``digest``; None when the registry has no referrers API."""
    response = transport.request(
        "GET",
        ref.host,
        f"/v2/{ref.repository}/referrers/{digest}",
        scope=pull_scope(ref),
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        ok=(200, 400, 404, 405),
        what=f"list referrers of {digest[:19]}",
        read=MAX_MANIFEST_BYTES + 1,
    )
    body = response.data
    if response.status != 200:
        return None
    try:
        items = json.loads(body).get("manifests") or []
    except (ValueError, AttributeError):
        return None
    return [
        str(item["digest"])
        for item in items
        if isinstance(item, dict) and isinstance(item.get("digest"), str)
    ]
