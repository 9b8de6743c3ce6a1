"""How to reach one registry: https by default, plain http only when asked for that registry.

One :class:`RegistryConfig` per side of a copy (skopeo's ``--src-*`` / ``--dest-*`` options):
``plain_http`` asks for http, ``ca_file`` names a PEM bundle trusted *instead of* the system
store (as ``curl --cacert``). No host gets plain http by default, loopback included, and an AWS
host never gets it at all: a registry token must not cross the network in clear.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecr_replicate.errors import ConfigurationError
from ecr_replicate.oci.reference import split_host

#: hosts that are only ever reached over https (ECR's registries are under these domains)
HTTPS_ONLY_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn")


@dataclass(frozen=True)
class RegistryConfig:
    """Transport options for one registry."""

    plain_http: bool = False
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.plain_http and self.ca_file is not None:
            raise ConfigurationError("a CA file is for https: it cannot be combined with plain http")

    @property
    def scheme(self) -> str:
        return "http" if self.plain_http else "https"

    def check(self, host: str) -> RegistryConfig:
        """This config, once it is known to be allowed for ``host`` (never http to AWS)."""
        if self.plain_http and is_https_only(host):
            raise ConfigurationError(
                f"plain http to {host} refused: registries under amazonaws.com are reached over "
                "https only (their tokens must not travel in clear)"
            )
        return self


def is_https_only(host: str) -> bool:
    name = split_host(host)[0].lower().rstrip(".")
    return name.endswith(HTTPS_ONLY_SUFFIXES)


HTTPS = RegistryConfig()


def per_host(*pairs: tuple[str, RegistryConfig]) -> dict[str, RegistryConfig]:
    """``host -> config`` from ``(host, config)`` pairs, each checked for its host.

    One host named twice must be named with one config: a copy within one registry cannot
    reach it over http on one side and https on the other.
    """
    configs: dict[str, RegistryConfig] = {}
    for host, config in pairs:
        config.check(host)
        if configs.setdefault(host, config) != config:
            raise ConfigurationError(f"{host} is given two different transport settings")
    return configs
