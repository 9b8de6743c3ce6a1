"""A front in front of a real docker-registry, with fake IAM/token/catalog services."""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import urllib3

from ecr_replicate_local.ecr_front import EcrFront
from ecr_replicate_local.registry import LocalRegistry
from ecr_replicate_local.tls import LocalCertificateAuthority
from tests.unit.ecr_front.fakes import FakeAuthorizer, FakeCatalog, FakeTokens

ACCOUNT = "123456789012"
REGION = "eu-west-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecr-replicate-copy"
REPO = "team/app"


def basic(token: str, user: str = "AWS") -> str:
    return "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()


@dataclass
class Rig:
    front: EcrFront
    registry: LocalRegistry
    ca: LocalCertificateAuthority
    tokens: FakeTokens
    authorizer: FakeAuthorizer
    catalog: FakeCatalog
    token: str
    http: urllib3.PoolManager

    def url(self, path: str) -> str:
        return f"https://{self.front.host}{path}"

    def registry_status(self, path: str) -> int:
        """The status docker-registry itself answers (behind the front, plain http)."""
        return int(self.http.request("GET", f"{self.registry.url}{path}", retries=False).status)

    def request(self, method: str, path: str, *, token: str | bool | None = True, **kw: Any) -> Any:
        """``token=True``: the rig's token; a string: that token; None/False: no credential."""
        headers = dict(kw.pop("headers", {}) or {})
        if token is True:
            headers["Authorization"] = basic(self.token)
        elif isinstance(token, str):
            headers["Authorization"] = basic(token)
        kw.setdefault("redirect", False)
        kw.setdefault("retries", False)
        return self.http.request(method, self.url(path), headers=headers, **kw)


@pytest.fixture
def ca(tmp_path: Path) -> LocalCertificateAuthority:
    return LocalCertificateAuthority.create(tmp_path / "tls")


@pytest.fixture
def trusting_pool(ca: LocalCertificateAuthority) -> Iterator[urllib3.PoolManager]:
    pool = urllib3.PoolManager(ca_certs=str(ca.ca_file), cert_reqs="CERT_REQUIRED", timeout=30)
    yield pool
    pool.clear()


@pytest.fixture
def make_rig(
    registry_factory: Callable[..., LocalRegistry],
    ca: LocalCertificateAuthority,
    trusting_pool: urllib3.PoolManager,
) -> Iterator[Callable[..., Rig]]:
    fronts: list[EcrFront] = []

    def make(**options: Any) -> Rig:
        registry = registry_factory("ecr-front")
        options.setdefault("storage", registry.storage)  # as the twin: the layer host reads its files
        tokens, authorizer, catalog = FakeTokens(), FakeAuthorizer(), FakeCatalog()
        catalog.create(REGION, REPO)
        front = EcrFront(
            upstream=registry.host,
            region=REGION,
            account=ACCOUNT,
            certificate=ca.issue(f"front-{len(fronts)}"),
            authorizer=authorizer,
            tokens=tokens,
            repositories=catalog,
            **options,
        ).start()
        fronts.append(front)
        return Rig(front, registry, ca, tokens, authorizer, catalog, tokens.issue(ROLE), trusting_pool)

    yield make
    for front in fronts:
        front.stop()


@pytest.fixture
def rig(make_rig: Callable[..., Rig]) -> Rig:
    return make_rig()


@pytest.fixture
def cert_dir(tmp_path: Path, ca: LocalCertificateAuthority) -> Path:
    """A ``--cert-dir`` for skopeo: the run's CA as ``ca.crt``."""
    directory = tmp_path / "certs"
    directory.mkdir()
    shutil.copy(ca.ca_file, directory / "ca.crt")
    return directory


def skopeo(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("skopeo")
    if binary is None:
        pytest.skip("skopeo is not installed")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout, check=False)
