"""``EcrFront``: one region's ECR registry endpoint, over https, in front of its docker-registry.

    with EcrFront(upstream="127.0.0.1:5001", region="eu-west-1", account="123456789012",
                  certificate=ca.issue("ecr-eu-west-1"), authorizer=..., tokens=...,
                  repositories=...) as front:
        front.host      # "127.0.0.1:PORT": the region's registry host (REGISTRY_ENDPOINTS)
        front.journal   # every request: principal, action, resource, allowed, status

Two https servers on free 127.0.0.1 ports: the registry API, and the layer host that blob GETs
are redirected to (``front.s3_host``). Both use ``certificate``; clients trust the run's CA
(``REGISTRY_CA_FILE``). ``stop()`` closes every connection and joins every thread.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ecr_replicate.aws_names import ACCOUNT_RE, REGION_RE
from ecr_replicate_local.ecr_front.app import RegistryApp
from ecr_replicate_local.ecr_front.blob_store import BlobStore
from ecr_replicate_local.ecr_front.calls import Calls
from ecr_replicate_local.ecr_front.contracts import Authorizer, RepositoryCatalog, TokenValidator
from ecr_replicate_local.ecr_front.journal import Journal
from ecr_replicate_local.ecr_front.s3 import Presigner, S3App
from ecr_replicate_local.ecr_front.serving import TlsServer
from ecr_replicate_local.ecr_front.throttle import Throttle
from ecr_replicate_local.ecr_front.upstream import Upstream
from ecr_replicate_local.tls import ServerCertificate

logger = logging.getLogger(__name__)



class EcrFront:
    def __init__(
        self,
        *,
        upstream: str,
        region: str,
        account: str,
        certificate: ServerCertificate,
        authorizer: Authorizer,
        tokens: TokenValidator,
        repositories: RepositoryCatalog,
        throttle: Throttle | None = None,
        blob_url_ttl: int = 3600,
        blob_mounting: bool = False,
        journal: Journal | None = None,
        storage: Path | None = None,
    ) -> None:
        """``upstream``: the region's docker-registry, ``127.0.0.1:PORT`` (plain http).
        ``storage``: that registry's storage directory (``rootdirectory``), which the layer host
        reads blobs from, as S3 is ECR's storage; None: the layer host fetches them from the
        registry over http (a registry whose files this process cannot read).
        ``throttle``: None (default) for no throttling, ``Throttle.ecr_defaults()`` for ECR's
        quotas, or ``Throttle({"ecr:PutImage": 1, ...})``. ``blob_url_ttl``: seconds a
        redirect URL stays valid. ``blob_mounting``: ECR's opt-in BLOB_MOUNTING setting.
        ``journal``: shared between fronts if given, else one per front."""
        if not REGION_RE.fullmatch(region):
            raise ValueError(f"not an AWS region name: {region!r}")
        if not ACCOUNT_RE.fullmatch(account):
            raise ValueError(f"not a 12-digit account id: {account!r}")
        self.region = region
        self.account = account
        self.certificate = certificate
        self.journal = journal if journal is not None else Journal()
        self._upstream = Upstream(upstream)
        self._presigner = Presigner(region, blob_url_ttl)
        self._calls = Calls(upstream=self._upstream, presigner=self._presigner, blob_mounting=blob_mounting)
        self._app = RegistryApp(
            region=region,
            account=account,
            authorizer=authorizer,
            tokens=tokens,
            repositories=repositories,
            calls=self._calls,
            journal=self.journal,
            throttle=throttle,
        )
        self._s3_app = S3App(self._presigner, self._upstream, BlobStore(storage) if storage else None)
        self._registry_server: TlsServer | None = None
        self._s3_server: TlsServer | None = None

    @property
    def registry_name(self) -> str:
        """The host this front plays: ``<account>.dkr.ecr.<region>.amazonaws.com``."""
        return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com"

    @property
    def running(self) -> bool:
        return self._registry_server is not None

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT`` of the registry API (once started)."""
        if self._registry_server is None:
            raise RuntimeError("the ECR front is not started")
        return self._registry_server.host

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    @property
    def s3_host(self) -> str:
        if self._s3_server is None:
            raise RuntimeError("the ECR front is not started")
        return self._s3_server.host

    @property
    def upstream(self) -> str:
        return self._upstream.host

    def start(self) -> EcrFront:
        if self.running:
            return self
        context = self.certificate.server_context()
        s3_server = TlsServer(self._s3_app, context, name=f"ecr-s3-{self.region}")
        registry_server = TlsServer(self._app, context, name=f"ecr-front-{self.region}")
        self._s3_app.host = self._calls.s3_host = s3_server.host
        self._calls.host = registry_server.host
        self._s3_server = s3_server.start()
        self._registry_server = registry_server.start()
        logger.debug(
            "ecr front %s: %s -> %s (layers on %s)", self.region, self.host, self._upstream.host, self.s3_host
        )
        return self

    def stop(self) -> None:
        """Stop both servers: open connections closed, threads joined, sockets closed."""
        for server in (self._registry_server, self._s3_server):
            if server is not None:
                server.stop()
        self._registry_server = self._s3_server = None
        self._upstream.close()

    def __enter__(self) -> EcrFront:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
