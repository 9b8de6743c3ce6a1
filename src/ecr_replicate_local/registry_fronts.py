"""One ECR registry front per local region: what ``<account>.dkr.ecr.<region>.amazonaws.com`` is
to the local twin.

Each region's bare ``docker-registry`` (plain http, :mod:`ecr_replicate_local.regions`) gets an
https :class:`~ecr_replicate_local.ecr_front.EcrFront` in front of it, with a certificate of a
CA made for this run (:mod:`ecr_replicate_local.tls`; its file is ``REGISTRY_CA_FILE`` for our
processes only). The fronts ask the local AWS who a token belongs to, what IAM allows and which
repositories exist (:mod:`ecr_replicate_local.front_services`). ``REGISTRY_ENDPOINTS`` names
the fronts: every registry call our code makes locally goes through one. The bare registries
stay reachable for people pushing into ``local up`` and for the twin's own bookkeeping.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_local.ecr_front import EcrFront, Journal, Throttle
from ecr_replicate_local.ecr_front.contracts import Authorizer, RepositoryCatalog
from ecr_replicate_local.iam.tokens import RegistryTokens
from ecr_replicate_local.regions import LocalRegions
from ecr_replicate_local.tls import LocalCertificateAuthority

logger = logging.getLogger(__name__)

SKOPEO_CERT_DIR = "certs.d"


class RegionFronts:
    """The fronts of every region of ``regions`` (started after the registries, stopped before)."""

    def __init__(
        self,
        regions: LocalRegions,
        *,
        account: str,
        authorizer: Authorizer,
        tokens: RegistryTokens,
        repositories: RepositoryCatalog,
        tls_dir: Path,
        throttle: Throttle | None = None,
    ) -> None:
        self.regions = regions
        self.account = account
        self.authorizer = authorizer
        self.tokens = tokens
        self.repositories = repositories
        self.tls_dir = tls_dir
        self.throttle = throttle
        self.journal = Journal()
        self.ca: LocalCertificateAuthority | None = None
        self.fronts: dict[str, EcrFront] = {}

    @property
    def ca_file(self) -> Path:
        if self.ca is None:
            raise ConfigurationError("the ECR fronts are not started")
        return self.ca.ca_file

    @property
    def cert_dir(self) -> Path:
        """A directory with the CA as ``ca.crt``: skopeo's ``--cert-dir``, docker's certs.d layout."""
        return self.tls_dir / SKOPEO_CERT_DIR

    def start(self) -> RegionFronts:
        try:
            self.ca = LocalCertificateAuthority.create(self.tls_dir)
            self.cert_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.ca.ca_file, self.cert_dir / "ca.crt")
            for region in self.regions.regions:
                self.fronts[region] = EcrFront(
                    upstream=self.regions.registry(region).host,
                    storage=self.regions.registry(region).storage,
                    region=region,
                    account=self.account,
                    certificate=self.ca.issue(f"ecr-{region}"),
                    authorizer=self.authorizer,
                    tokens=self.tokens.for_region(region),
                    repositories=self.repositories,
                    throttle=self.throttle,
                    journal=self.journal,
                ).start()
        except BaseException:
            self.stop()
            raise
        return self

    def endpoints(self) -> dict[str, str]:
        """Region -> ``127.0.0.1:PORT`` of its front (``REGISTRY_ENDPOINTS``)."""
        return {region: front.host for region, front in self.fronts.items()}

    def host(self, region: str) -> str:
        return self.fronts[region].host

    def stop(self) -> None:
        """Stop every front (closes its connections, frees its ports). Safe to call twice."""
        for region, front in list(self.fronts.items()):
            try:
                front.stop()
            except Exception as exc:  # keep stopping the others
                logger.warning("could not stop the ECR front of %s: %s", region, exc)
        self.fronts.clear()
