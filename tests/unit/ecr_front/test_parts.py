"""The front's pieces on their own: routes and actions, tag mutability, buckets, the CA."""

from __future__ import annotations

import stat

import pytest

from ecr_replicate_local.ecr_front import RepositoryInfo, TagMutability
from ecr_replicate_local.ecr_front.app import basic_token
from ecr_replicate_local.ecr_front.routes import BadRoute, Kind, parse
from ecr_replicate_local.ecr_front.throttle import ECR_RATE_QUOTAS, Throttle, TokenBucket
from ecr_replicate_local.tls import LocalCertificateAuthority
from tests.unit.ecr_front.conftest import basic

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("method", "path", "kind", "repository", "action"),
    [
        ("GET", "/v2/a/b/c/manifests/v1", Kind.MANIFEST, "a/b/c", "ecr:BatchGetImage"),
        ("HEAD", f"/v2/ab/manifests/{DIGEST}", Kind.MANIFEST, "ab", "ecr:BatchGetImage"),
        ("PUT", "/v2/ab/manifests/v1", Kind.MANIFEST, "ab", "ecr:PutImage"),
        ("DELETE", f"/v2/ab/manifests/{DIGEST}", Kind.MANIFEST, "ab", "ecr:BatchDeleteImage"),
        ("HEAD", f"/v2/ab/blobs/{DIGEST}", Kind.BLOB, "ab", "ecr:BatchCheckLayerAvailability"),
        ("GET", f"/v2/ab/blobs/{DIGEST}", Kind.BLOB, "ab", "ecr:GetDownloadUrlForLayer"),
        ("POST", "/v2/ab/blobs/uploads/", Kind.UPLOAD_START, "ab", "ecr:InitiateLayerUpload"),
        ("PATCH", "/v2/ab/blobs/uploads/3f1e-99", Kind.UPLOAD, "ab", "ecr:UploadLayerPart"),
        ("PUT", "/v2/ab/blobs/uploads/3f1e-99", Kind.UPLOAD, "ab", "ecr:CompleteLayerUpload"),
        ("GET", "/v2/ab/tags/list", Kind.TAGS, "ab", "ecr:ListImages"),
        ("GET", f"/v2/ab/referrers/{DIGEST}", Kind.REFERRERS, "ab", "ecr:BatchGetImage"),
        ("GET", "/v2/_catalog", Kind.CATALOG, "", "ecr:DescribeRepositories"),
        ("DELETE", f"/v2/ab/blobs/{DIGEST}", Kind.BLOB, "ab", None),
        ("POST", "/v2/ab/manifests/v1", Kind.MANIFEST, "ab", None),
    ],
)
def test_routes_map_to_ecrs_actions(
    method: str, path: str, kind: Kind, repository: str, action: str | None
) -> None:
    route = parse(path)
    assert route is not None
    assert (route.kind, route.repository, route.action(method)) == (kind, repository, action)


@pytest.mark.parametrize(
    "path",
    [
        "/v2/A/manifests/v1",
        "/v2/x/manifests/v1",
        "/v2/ab/blobs/notadigest",
        "/v2/ab/manifests/-bad",
        "/v2/a..b/tags/list",
    ],
)
def test_names_and_references_ecr_would_refuse_are_bad_routes(path: str) -> None:
    with pytest.raises(BadRoute):
        parse(path)


def test_paths_outside_the_api_have_no_route() -> None:
    assert parse("/v1/_ping") is None and parse("/") is None


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic",
        "Basic ====",
        basic("t", user="aws"),
        basic(""),
        "Digest abc",
        "Basic " + "A" * 20_000,
    ],
)
def test_only_basic_aws_with_a_password_is_a_token(header: str | None) -> None:
    assert basic_token(header) is None


def test_basic_aws_token_is_decoded() -> None:
    assert basic_token(basic("tok:en")) == "tok:en"


def test_exclusion_filters_are_wildcards_only() -> None:
    info = RepositoryInfo("r", TagMutability.IMMUTABLE_WITH_EXCLUSION, ("v1.*", "*-rc"))
    assert not info.tag_is_immutable("v1.2") and not info.tag_is_immutable("x-rc")
    assert info.tag_is_immutable("v1x2") and info.tag_is_immutable("v2.0")  # "." is literal
    with pytest.raises(ValueError, match="exclusion filter"):
        RepositoryInfo("r", TagMutability.IMMUTABLE_WITH_EXCLUSION, ("a/b",))


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2, capacity=2, clock=lambda: now[0])
    assert [bucket.take(), bucket.take()] == [0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    now[0] += 0.5
    assert bucket.take() == 0.0


def test_throttle_defaults_are_ecrs_quotas_and_retry_after_is_whole_seconds() -> None:
    assert ECR_RATE_QUOTAS["ecr:PutImage"] == 10 and ECR_RATE_QUOTAS["ecr:GetDownloadUrlForLayer"] == 3000
    now = [0.0]
    throttle = Throttle({"ecr:PutImage": 0.5}, clock=lambda: now[0])
    assert throttle.retry_after("ecr:PutImage") is None
    assert throttle.retry_after("ecr:PutImage") == 2
    assert throttle.retry_after("ecr:ListImages") is None  # no rate: never throttled


def test_the_ca_writes_its_certificate_and_keeps_its_key(tmp_path: object) -> None:
    ca = LocalCertificateAuthority.create(tmp_path / "ca")  # type: ignore[operator]
    pair = ca.issue("leaf")
    assert ca.ca_file.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert b"PRIVATE KEY" not in ca.ca_file.read_bytes()
    assert stat.S_IMODE(pair.key_file.stat().st_mode) == 0o600
    assert sorted(path.name for path in ca.directory.iterdir()) == ["ca.pem", "leaf-key.pem", "leaf.pem"]
    with pytest.raises(ValueError, match="file name"):
        ca.issue("../escape")
