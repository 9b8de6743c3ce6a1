"""Manifest calls of the distribution API: GET, HEAD and PUT of ``/v2/<name>/manifests/<ref>``.

Every ``<ref>`` is a validated tag or digest; every digest a registry answers with is validated
(Docker-Content-Digest) or computed from the bytes; manifest bytes are kept exactly as served.
"""

from __future__ import annotations

from ecr_replicate.errors import ManifestRejectedError, UnsupportedManifestError
from ecr_replicate.oci.manifests import (
    ACCEPT,
    MAX_MANIFEST_BYTES,
    Manifest,
    digest_of,
    parse_manifest,
    verify_digest,
)
from ecr_replicate.oci.reference import Reference, is_digest, validate_tag
from ecr_replicate.oci.response import ERROR_BODY_LIMIT, AnswerTooLargeError
from ecr_replicate.oci.transport import Transport


def pull_scope(ref: Reference) -> str:
    return f"repository:{ref.repository}:pull"


def push_scope(ref: Reference) -> str:
    return f"repository:{ref.repository}:pull,push"


def manifest_path(ref: Reference, reference: str) -> str:
    """``/v2/<name>/manifests/<tag or digest>``, both validated."""
    if is_digest(reference):
        return f"/v2/{ref.repository}/manifests/{reference}"
    return f"/v2/{ref.repository}/manifests/{validate_tag(reference)}"


def _name(ref: Reference, reference: str) -> str:
    return f"{ref.host}/{ref.repository}{'@' if ':' in reference else ':'}{reference[:19]}"


def fetch_manifest(transport: Transport, ref: Reference, reference: str | None = None) -> Manifest:
    """GET a manifest by tag or digest; bytes kept exactly, digest verified when asked by digest."""
    wanted = reference or ref.reference
    try:
        response = transport.request(
            "GET",
            ref.host,
            manifest_path(ref, wanted),
            scope=pull_scope(ref),
            headers={"Accept": ACCEPT},
            ok=(200,),
            what=f"read manifest {_name(ref, wanted)}",
            read=MAX_MANIFEST_BYTES,
        )
    except AnswerTooLargeError as exc:
        raise UnsupportedManifestError(f"{exc} (the manifest limit)") from None
    body = response.data
    if is_digest(wanted):
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
        manifest_path(ref, reference),
        scope=push_scope(ref) if push else pull_scope(ref),
        headers={"Accept": ACCEPT},
        ok=(200, 404),
        what=f"check manifest {_name(ref, reference)}",
    )
    if response.status == 404:
        return None
    found = response.digest_header()
    if found:
        return found
    if is_digest(reference):
        return reference
    return fetch_manifest(transport, ref, reference).digest


def put_manifest(transport: Transport, ref: Reference, manifest: Manifest, reference: str) -> None:
    """PUT the manifest's exact bytes under ``reference`` (tag or digest); check the stored digest.

    The bytes hash to ``manifest.digest`` (verified when read), so a DIGEST_INVALID answer is the
    registry's own: distribution 2.8 gives it when two writers store the same manifest at the
    same moment (duplicate deliveries replicated concurrently). Such a PUT is retried within the
    request's own bounded policy (tests/reliability/test_duplicate_delivery.py).
    """
    if len(manifest.body) > MAX_MANIFEST_BYTES:
        raise UnsupportedManifestError(
            f"manifest {manifest.digest} is over the {MAX_MANIFEST_BYTES} bytes limit"
        )
    response = transport.request(
        "PUT",
        ref.host,
        manifest_path(ref, reference),
        scope=push_scope(ref),
        headers={"Content-Type": manifest.media_type},
        body=manifest.body,
        ok=(200, 201, 204),
        what=f"write manifest {_name(ref, reference)}",
        read=ERROR_BODY_LIMIT,
        retry_integrity=True,
    )
    stored = response.digest_header()
    same_algorithm = stored is not None and stored.partition(":")[0] == manifest.digest.partition(":")[0]
    if same_algorithm and stored != manifest.digest:
        raise ManifestRejectedError(
            f"target stored manifest {manifest.digest} as {stored}", host=ref.host, status=response.status
        )


def newer_push(transport: Transport, source: Reference, tag: str, digest: str) -> str | None:
    """The newer-push-wins decision: None while the source's ``tag`` still names ``digest``, else
    the digest it names now ("" when the tag is gone): a newer push owns the tag, and copying
    ``digest`` under it would be superseded. Dry runs ask the same question (``dryrun.py``)."""
    current = head_manifest(transport, source.with_digest(None), tag)
    return None if current == digest else (current or "")
