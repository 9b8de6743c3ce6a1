"""Finding an image's signatures and other referrers, bounded and without listing tags.

Two schemes, as cosign and OCI 1.1 define them:

- tags: ``sha256-<hex>.sig``, ``.att`` and ``.sbom`` next to the image, each found by one HEAD
  (no ``GET /tags/list``: no ``ecr:ListImages`` needed, no pages of a hostile size to follow);
- the referrers API ``GET /v2/<name>/referrers/<digest>``: one page, at most
  MAX_REFERRERS_PER_SUBJECT entries, each digest validated.

Signatures never fail an image: a discovery the registry refuses or answers badly is "none", with
a warning the copy result carries. Only transient failures (and the deadline) propagate, so the
copy is retried rather than finished without its signatures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ecr_replicate.errors import RegistryError, ReplicationError, UnsupportedManifestError
from ecr_replicate.oci.manifest_calls import head_manifest, pull_scope
from ecr_replicate.oci.manifests import MAX_MANIFEST_BYTES, OCI_INDEX, parse_json
from ecr_replicate.oci.reference import Reference, is_digest
from ecr_replicate.oci.transport import Transport

logger = logging.getLogger(__name__)

TAG_SUFFIXES = (".sig", ".att", ".sbom")
MAX_REFERRERS_PER_SUBJECT = 64
MAX_REFERRERS = 256
MAX_SUBJECTS = 128


@dataclass
class Discovery:
    """What was found for one subject: signature tags (tag, digest) and referrer digests."""

    subject: str
    tags: list[tuple[str, str]] = field(default_factory=list)
    referrers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def tolerated(exc: ReplicationError) -> bool:
    """Errors that make a discovery "none" (with a warning) rather than fail the copy."""
    return not exc.retryable and isinstance(exc, RegistryError | UnsupportedManifestError)


def signature_tags(subject: str) -> list[str]:
    """The cosign-style tags of ``subject`` (sha512 ones would pass the 128-character tag limit)."""
    base = subject.replace(":", "-", 1)
    return [base + suffix for suffix in TAG_SUFFIXES if len(base + suffix) <= 128]


def discover(transport: Transport, source: Reference, subject: str) -> Discovery:
    """HEAD the signature tags of ``subject`` and ask the referrers API, in ``source``'s repository."""
    found = Discovery(subject)
    repository = source.repository_only()
    for tag in signature_tags(subject):
        try:
            digest = head_manifest(transport, repository, tag)
        except ReplicationError as exc:
            if not tolerated(exc):
                raise
            found.warnings.append(f"signature tag {tag} not checked (treated as none): {exc}"[:300])
            continue
        if digest is not None:
            found.tags.append((tag, digest))
    found.referrers = _api_referrers(transport, repository, subject, found.warnings)
    return found


def _api_referrers(
    transport: Transport, repository: Reference, subject: str, warnings: list[str]
) -> list[str]:
    what = f"list referrers of {subject[:19]} in {repository}"
    try:
        response = transport.request(
            "GET",
            repository.host,
            f"/v2/{repository.repository}/referrers/{subject}",
            scope=pull_scope(repository),
            headers={"Accept": OCI_INDEX},
            ok=(200, 400, 404, 405),
            what=what,
            read=MAX_MANIFEST_BYTES,
        )
        if response.status != 200:
            # distribution 2.8 answers 404: no referrers API there (the tags above are its scheme)
            logger.debug("%s: HTTP %s, no referrers API", what, response.status)
            return []
        data = parse_json(response.data, "referrers answer")
    except ReplicationError as exc:
        if not tolerated(exc):
            raise
        warnings.append(f"referrers of {subject[:19]} not listed (treated as none): {exc}"[:300])
        return []
    items = data.get("manifests") if isinstance(data, dict) else None
    if not isinstance(items, list):
        warnings.append(f"referrers of {subject[:19]}: the answer is not an index (treated as none)")
        return []
    if response.header("Link"):
        warnings.append(f"referrers of {subject[:19]}: only the first page is copied")
    if len(items) > MAX_REFERRERS_PER_SUBJECT:
        warnings.append(
            f"referrers of {subject[:19]}: {len(items)} listed, the first {MAX_REFERRERS_PER_SUBJECT} copied"
        )
        items = items[:MAX_REFERRERS_PER_SUBJECT]
    digests: list[str] = []
    invalid = 0
    for item in items:
        digest = item.get("digest") if isinstance(item, dict) else None
        if not is_digest(digest):
            invalid += 1
        elif digest not in digests:
            digests.append(str(digest))
    if invalid:
        warnings.append(f"referrers of {subject[:19]}: {invalid} entries without a valid digest skipped")
    return digests
