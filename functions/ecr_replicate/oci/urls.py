"""Where a request goes: ``scheme://host/path``, and the checks on every URL a registry names.

A registry names URLs in upload ``Location`` headers, redirects and Bearer realms. Each one is
checked before it is used: ASCII without spaces or control characters, bounded in length,
http or https only, a valid host and no user information, an absolute path, and not a host where
no registry is but a cloud machine's secrets are (:func:`is_metadata_host`: the EC2 and ECS
metadata endpoints, link-local addresses, 0.0.0.0). A URL that fails is a typed error, refused
before any socket is opened; nothing is ever sent to it. A host *name* that resolves to such an
address is refused once connected, before a byte is sent (``connections``: the address a name
resolves to is only known there).
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from dataclasses import dataclass

from ecr_replicate.errors import InvalidReferenceError, RegistryProtocolError
from ecr_replicate.oci.reference import split_host, validate_host

MAX_URL_LENGTH = 8192
SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
#: link-local (EC2 IMDS 169.254.169.254, ECS task credentials 169.254.170.2, fe80::), EC2's IPv6
#: metadata/DNS range (fd00:ec2::254), and "this host" (0.0.0.0 and :: reach local services)
METADATA_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in ("169.254.0.0/16", "0.0.0.0/8", "fe80::/10", "fd00:ec2::/64", "::/128")
)


@dataclass(frozen=True, slots=True)
class Url:
    """An absolute http(s) URL; ``target`` is the path and query sent on the request line."""

    scheme: str
    host: str
    target: str

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}{self.target}"

    @property
    def origin(self) -> tuple[str, str, int]:
        """``(scheme, lowercase host name, port)`` with the scheme's default port filled in."""
        return origin(self.scheme, self.host)

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


def origin(scheme: str, host: str) -> tuple[str, str, int]:
    name, port = split_host(host)
    return scheme, name.lower(), port or DEFAULT_PORTS[scheme]


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address a host name is written as, also in the numeric forms the resolver takes for
    IPv4 (``2852039166``, ``0xa9fea9fe``, ``0251.0376.0251.0376``); None for a DNS name."""
    text = name.strip("[]")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        if not text or not all(char in "0123456789abcdefxABCDEFX." for char in text):
            return None
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_metadata_address(text: str) -> bool:
    """True when ``text`` is an IP address (any spelling the resolver takes) in
    :data:`METADATA_NETWORKS`; False for a DNS name."""
    address = _address(text)
    return address is not None and any(address in network for network in METADATA_NETWORKS)


def is_metadata_host(host: str) -> bool:
    """True when ``host`` (``name[:port]``) is written as an address in :data:`METADATA_NETWORKS`."""
    return is_metadata_address(split_host(host)[0])


def _refuse(what: str, url: str, reason: str) -> RegistryProtocolError:
    shown = url if len(url) <= 120 else url[:117] + "..."
    return RegistryProtocolError(f"{what}: unacceptable URL {shown!r}: {reason}")


def resolve(base: Url, location: object, what: str) -> Url:
    """``location`` (absolute, or relative to ``base``) as a checked :class:`Url`."""
    if not isinstance(location, str) or not location:
        raise _refuse(what, str(location or ""), "empty")
    if len(location) > MAX_URL_LENGTH:
        raise _refuse(what, location, f"over {MAX_URL_LENGTH} characters")
    if not all("!" <= char <= "~" for char in location):
        raise _refuse(what, location, "spaces, control or non-ASCII characters")
    try:
        parts = urllib.parse.urlsplit(urllib.parse.urljoin(str(base), location))
        netloc = parts.netloc
    except ValueError as exc:
        raise _refuse(what, location, str(exc)) from None
    if parts.scheme not in SCHEMES:
        raise _refuse(what, location, "only http and https are followed")
    if "@" in netloc:
        raise _refuse(what, location, "user information in a URL is not followed")
    try:
        validate_host(netloc)
    except InvalidReferenceError:
        raise _refuse(what, location, "invalid host") from None
    if not parts.path.startswith("/"):
        raise _refuse(what, location, "no absolute path")
    if is_metadata_host(netloc) and origin(parts.scheme, netloc)[1] != base.origin[1]:
        raise _refuse(what, location, "a link-local or metadata address, where no registry is")
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return Url(parts.scheme, netloc, target)
