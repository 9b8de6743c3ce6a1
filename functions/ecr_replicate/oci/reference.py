"""Image references ``HOST[:PORT]/REPO(:TAG|@DIGEST)`` and the OCI grammar of each part.

Every repository, tag, digest and host the copier puts into a request goes through one of the
``validate_*`` functions first, wherever it came from (a command line, an event, a manifest, a
header). Each check bounds the length before any pattern runs, and the patterns have no nested
ambiguity, so a hostile string costs linear time.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TypeGuard

from ecr_replicate.errors import InvalidReferenceError

MAX_REPOSITORY_LENGTH = 255
MAX_TAG_LENGTH = 128
MAX_HOST_LENGTH = 261  # a 255-character DNS name and ":65535"
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST_HEX = {"sha256": 64, "sha512": 128}
_HEX = frozenset("0123456789abcdef")
_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _short(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")


def validate_repository(name: str) -> str:
    """Return ``name`` if it is a valid repository path, else raise InvalidReferenceError."""
    if not name:
        raise InvalidReferenceError("repository name is empty")
    if len(name) > MAX_REPOSITORY_LENGTH:
        raise InvalidReferenceError(
            f"repository name is {len(name)} characters long; the limit is {MAX_REPOSITORY_LENGTH}"
        )
    if not _REPOSITORY_RE.fullmatch(name):
        raise InvalidReferenceError(
            f"invalid repository name {_short(name)}: use lowercase letters, digits and "
            "separators (. _ __ -) between them, components joined by '/'"
        )
    return name


def validate_tag(tag: str) -> str:
    """Return ``tag`` if valid (``[A-Za-z0-9_][A-Za-z0-9._-]{0,127}``), else raise."""
    if not tag:
        raise InvalidReferenceError("tag is empty")
    if len(tag) > MAX_TAG_LENGTH:
        raise InvalidReferenceError(f"tag is {len(tag)} characters long; the limit is {MAX_TAG_LENGTH}")
    if not _TAG_RE.fullmatch(tag):
        raise InvalidReferenceError(
            f"invalid tag {_short(tag)}: letters, digits, '_', '.', '-' only, not starting with '.' or '-'"
        )
    return tag


def is_digest(value: object) -> TypeGuard[str]:
    """True for ``sha256:<64 lowercase hex>`` and ``sha512:<128 lowercase hex>`` only."""
    if not isinstance(value, str) or len(value) > 7 + 128:
        return False
    algorithm, sep, encoded = value.partition(":")
    length = _DIGEST_HEX.get(algorithm)
    return bool(sep) and length is not None and len(encoded) == length and _HEX.issuperset(encoded)


def validate_digest(digest: str) -> str:
    """Return ``digest`` if it is ``sha256:<64 hex>`` or ``sha512:<128 hex>``, else raise."""
    if not is_digest(digest):
        raise InvalidReferenceError(
            f"invalid digest {_short(str(digest))}: expected sha256:<64 lowercase hex> or "
            "sha512:<128 lowercase hex>"
        )
    return digest


def digest_algorithm(digest: str) -> str:
    """``"sha256"`` or ``"sha512"`` of a valid digest."""
    return validate_digest(digest).partition(":")[0]


def validate_host(host: str) -> str:
    """Return ``host`` (``name[:port]`` or ``[ipv6][:port]``) if valid, else raise."""
    if not host or len(host) > MAX_HOST_LENGTH:
        raise InvalidReferenceError(f"invalid registry host {_short(host)}")
    name, port = split_host(host)
    if port is not None and not 0 < port < 65536:
        raise InvalidReferenceError(f"invalid port in registry host {_short(host)}")
    if name.startswith("["):
        try:
            ipaddress.IPv6Address(name[1:-1])
        except ValueError:
            raise InvalidReferenceError(f"invalid IPv6 registry host {_short(host)}") from None
    elif not name or not all(_LABEL_RE.fullmatch(label) for label in name.split(".")):
        raise InvalidReferenceError(f"invalid registry host {_short(host)}")
    return host


def split_host(host: str) -> tuple[str, int | None]:
    """``"h:5000"`` -> ``("h", 5000)``; ``"[::1]:5000"`` -> ``("[::1]", 5000)``."""
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise InvalidReferenceError(f"invalid registry host {_short(host)}: missing ']'")
        name, rest = host[: end + 1], host[end + 1 :]
        if not rest:
            return name, None
        if not rest.startswith(":"):
            raise InvalidReferenceError(f"invalid registry host {_short(host)}")
        port_text = rest[1:]
    else:
        name, sep, port_text = host.partition(":")
        if not sep:
            return name, None
    if not (port_text.isascii() and port_text.isdigit()) or len(port_text) > 5:
        raise InvalidReferenceError(f"invalid port in registry host {_short(host)}")
    return name, int(port_text)


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and [::1] (with or without a port)."""
    name = split_host(host)[0].lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def looks_like_host(component: str) -> bool:
    """Docker's rule for the first component of a reference: a registry host has a '.' or a ':'
    or is ``localhost``; anything else is a repository component (``team/app``)."""
    return "." in component or ":" in component or component == "localhost" or component.startswith("[")


@dataclass(frozen=True, slots=True)
class Reference:
    """``host/repository`` plus a tag, a digest, or both (``repo:tag@digest``).

    Every part is validated when the reference is made, so a Reference in hand is safe to put
    into a request path.
    """

    host: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __post_init__(self) -> None:
        validate_host(self.host)
        validate_repository(self.repository)
        if self.tag is not None:
            validate_tag(self.tag)
        if self.digest is not None:
            validate_digest(self.digest)

    @property
    def reference(self) -> str:
        """What goes into ``/manifests/<ref>``: the digest when known, else the tag."""
        if self.digest:
            return self.digest
        if self.tag:
            return self.tag
        raise InvalidReferenceError(f"{self} has neither a tag nor a digest")

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def with_digest(self, digest: str | None) -> Reference:
        return Reference(self.host, self.repository, self.tag, digest)

    def with_tag(self, tag: str | None) -> Reference:
        return Reference(self.host, self.repository, tag, self.digest)

    def with_host(self, host: str) -> Reference:
        return Reference(host, self.repository, self.tag, self.digest)

    def repository_only(self) -> Reference:
        return Reference(self.host, self.repository)

    def __str__(self) -> str:
        text = f"{self.host}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(value: str | Reference) -> Reference:
    """Parse ``HOST[:PORT]/REPO[:TAG][@DIGEST]``; the host part is mandatory."""
    if isinstance(value, Reference):
        return value
    text = value.strip()
    if not text:
        raise InvalidReferenceError("image reference is empty")
    if len(text) > MAX_HOST_LENGTH + MAX_REPOSITORY_LENGTH + MAX_TAG_LENGTH + 140:
        raise InvalidReferenceError(f"image reference {_short(text)} is too long")
    if "://" in text:
        raise InvalidReferenceError(f"image reference {_short(text)} must not carry a URL scheme")
    host, slash, rest = text.partition("/")
    if not slash or not rest or not looks_like_host(host):
        raise InvalidReferenceError(
            f"image reference {_short(text)}: the registry host is missing "
            "(write HOST[:PORT]/REPO(:TAG|@DIGEST), e.g. 127.0.0.1:5000/team/app:v1)"
        )
    digest: str | None = None
    if "@" in rest:
        rest, _, digest = rest.partition("@")
    tag: str | None = None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        rest, tag = rest[:colon], rest[colon + 1 :]
    return Reference(host=host, repository=rest, tag=tag, digest=digest)
