"""Which registry call a request is, and the IAM action ECR checks for it.

The path grammar is the OCI distribution API's; names follow ECR's repository-name pattern
(2-256 characters). A request that matches no route, or a method a route does not offer, has no
action: the front answers it without consulting the authorizer.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

#: ECR's repositoryName pattern (CreateRepository), lengths 2..256.
REPOSITORY_NAME = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")
UPLOAD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,127}")


class Kind(enum.Enum):
    BASE = "base"
    CATALOG = "catalog"
    MANIFEST = "manifest"
    BLOB = "blob"
    UPLOAD_START = "upload-start"
    UPLOAD = "upload"
    TAGS = "tags"
    REFERRERS = "referrers"


_PATTERNS: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    (Kind.BASE, re.compile(r"/v2/?")),
    (Kind.CATALOG, re.compile(r"/v2/_catalog")),
    (Kind.UPLOAD_START, re.compile(r"/v2/(?P<name>.+)/blobs/uploads/?")),
    (Kind.UPLOAD, re.compile(r"/v2/(?P<name>.+)/blobs/uploads/(?P<ref>[^/]+)")),
    (Kind.BLOB, re.compile(r"/v2/(?P<name>.+)/blobs/(?P<ref>[^/]+)")),
    (Kind.MANIFEST, re.compile(r"/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)")),
    (Kind.TAGS, re.compile(r"/v2/(?P<name>.+)/tags/list")),
    (Kind.REFERRERS, re.compile(r"/v2/(?P<name>.+)/referrers/(?P<ref>[^/]+)")),
)

# (kind, method) -> IAM action. HEAD of a manifest is a read like GET (ECR: BatchGetImage).
ACTIONS: dict[tuple[Kind, str], str] = {
    (Kind.CATALOG, "GET"): "ecr:DescribeRepositories",
    (Kind.MANIFEST, "GET"): "ecr:BatchGetImage",
    (Kind.MANIFEST, "HEAD"): "ecr:BatchGetImage",
    (Kind.MANIFEST, "PUT"): "ecr:PutImage",
    (Kind.MANIFEST, "DELETE"): "ecr:BatchDeleteImage",
    (Kind.BLOB, "HEAD"): "ecr:BatchCheckLayerAvailability",
    (Kind.BLOB, "GET"): "ecr:GetDownloadUrlForLayer",
    (Kind.UPLOAD_START, "POST"): "ecr:InitiateLayerUpload",
    (Kind.UPLOAD, "PATCH"): "ecr:UploadLayerPart",
    (Kind.UPLOAD, "PUT"): "ecr:CompleteLayerUpload",
    # upload status and cancel: no action of their own in ECR's API; the session's part upload
    (Kind.UPLOAD, "GET"): "ecr:UploadLayerPart",
    (Kind.UPLOAD, "DELETE"): "ecr:UploadLayerPart",
    (Kind.TAGS, "GET"): "ecr:ListImages",
    # ListImageReferrers "must have the ecr:BatchGetImage permission" (ECR API reference)
    (Kind.REFERRERS, "GET"): "ecr:BatchGetImage",
}

#: Every action the front can ask the authorizer about.
ALL_ACTIONS = frozenset(ACTIONS.values())


@dataclass(frozen=True)
class Route:
    kind: Kind
    repository: str = ""  # empty for BASE and CATALOG
    reference: str = ""  # tag or digest (manifest), digest (blob, referrers), upload id

    @property
    def reference_is_digest(self) -> bool:
        return ":" in self.reference

    def action(self, method: str) -> str | None:
        """The IAM action of ``method`` on this route; None when the route does not offer it."""
        return ACTIONS.get((self.kind, method))


class BadRoute(ValueError):  # noqa: N818 - a parse outcome, not an error the user sees as such
    """The path has a known shape, but a name or reference that ECR would never accept."""


def valid_repository_name(name: str) -> bool:
    return 2 <= len(name) <= 256 and REPOSITORY_NAME.fullmatch(name) is not None


def parse(path: str) -> Route | None:
    """The route of ``path`` (decoded, without query); None for a path outside the API.

    Raises :class:`BadRoute` for a known shape with an invalid repository name or reference.
    """
    for kind, pattern in _PATTERNS:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        groups = match.groupdict()
        name = groups.get("name") or ""
        ref = groups.get("ref") or ""
        if kind in (Kind.BASE, Kind.CATALOG):
            return Route(kind)
        if not valid_repository_name(name):
            raise BadRoute(name)
        if kind in (Kind.BLOB, Kind.REFERRERS) and not DIGEST.fullmatch(ref):
            raise BadRoute(ref)
        if kind is Kind.MANIFEST and not (DIGEST.fullmatch(ref) or TAG.fullmatch(ref)):
            raise BadRoute(ref)
        if kind is Kind.UPLOAD and not UPLOAD_ID.fullmatch(ref):
            raise BadRoute(ref)
        return Route(kind, name, ref)
    return None
