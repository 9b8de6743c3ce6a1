"""Image references ``HOST[:PORT]/REPO(:TAG|@DIGEST)`` by the OCI distribution grammar."""

from __future__ import annotations

import re

from ecr_replicate.errors import InvalidReferenceError

MAX_REPOSITORY_LENGTH = 255
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST_RES = {
    "sha256": re.compile(r"[a-f0-9]{64}"),
    "sha512": re.compile(r"[a-f0-9]{128}"),
}
_HOSTNAME_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def _short(value: str) -> str:
    return value if len(value) <= 80 else value[:77] + "..."


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
            f"invalid repository name {_short(name)!r}: use lowercase letters, digits and "
            "separators (. _ __ -) between them, components joined by '/'"
        )
    return name


def validate_tag(tag: str) -> str:
    """Return ``tag`` if valid (``[A-Za-z0-9_][A-Za-z0-9._-]{0,127}``), else raise."""
    if not tag:
        raise InvalidReferenceError("tag is empty")
    if len(tag) > 128:
        raise InvalidReferenceError(f"tag is {len(tag)} characters long; the limit is 128")
    if not _TAG_RE.fullmatch(tag):
        raise InvalidReferenceError(
            f"invalid tag {_short(tag)!r}: letters, digits, '_', '.', '-' only, not starting with '.' or '-'"
        )
    return tag


def validate_digest(digest: str) -> str:
    """Return ``digest`` if it is ``sha256:<64 hex>`` or ``sha512:<128 hex>``, else raise."""
    algorithm, sep, encoded = digest.partition(":")
    pattern = _DIGEST_RES.get(algorithm)
    if not sep or pattern is None:
        raise InvalidReferenceError(
            f"invalid digest {_short(digest)!r}: expected sha256:<64 hex> or sha512:<128 hex>"
        )
    if not pattern.fullmatch(encoded):
        raise InvalidReferenceError(
            f"invalid digest {_short(digest)!r}: {algorithm} needs {'64' if algorithm == 'sha256' else '128'}"
            " lowercase hex characters"
        )
    return digest


def validate_host(host: str) -> str:
    """Return ``host`` (``name[:port]`` or ``[ipv6][:port]``) if valid, else raise."""
    name, port = split_host(host)
    if port is not None and not 0 < port < 65536:
        raise InvalidReferenceError(f"invalid port in registry host {_short(host)!r}")
    if name.startswith("["):
        try:
            import ipaddress  # noqa: PLC0415 - only IPv6 literals need it

            ipaddress.IPv6Address(name[1:-1])
        except ValueError:
            raise InvalidReferenceError(f"invalid IPv6 registry host {_short(host)!r}") from None
    elif not _HOSTNAME_RE.fullmatch(name):
        raise InvalidReferenceError(f"invalid registry host {_short(host)!r}")
    return host


def split_host(host: str) -> tuple[str, int | None]:
    """``"h:5000"`` -> ``("h", 5000)``; ``"[::1]:5000"`` -> ``("[::1]", 5000)``."""
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise InvalidReferenceError(f"invalid registry host {_short(host)!r}: missing ']'")
        name, rest = host[: end + 1], host[end + 1 :]
        if not rest:
            return name, None
        if not rest.startswith(":"):
            raise InvalidReferenceError(f"invalid registry host {_short(host)!r}")
        port_text = rest[1:]
    else:
        name, sep, port_text = host.partition(":")
        if not sep:
            return name, None
    if not port_text.isdigit():
        raise InvalidReferenceError(f"invalid port in registry host {_short(host)!r}")
    return name, int(port_text)


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and [::1] (with or without a port)."""
    name = split_host(host)[0].lower()
    if name == "localhost":
        return True
    if _is_ipv4(name):
        return name.startswith("127.")
    if name.startswith("[") and name.endswith("]"):
        import ipaddress  # noqa: PLC0415 - only IPv6 literals need it (start-up stays lean)

        try:
            return ipaddress.IPv6Address(name[1:-1]).is_loopback
        except ValueError:
            return False
    return False


def _is_ipv4(name: str) -> bool:
    parts = name.split(".")
    return len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts)


class Reference:
    """``host/repository`` plus a tag, a digest, or both (``repo:tag@digest``). Immutable.

    A plain slotted class rather than a NamedTuple: ``typing`` stays out of the CLI's start-up.
    """

    __slots__ = ("digest", "host", "repository", "tag")

    host: str
    repository: str
    tag: str | None
    digest: str | None

    def __init__(self, host: str, repository: str, tag: str | None = None, digest: str | None = None) -> None:
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "repository", repository)
        object.__setattr__(self, "tag", tag)
        object.__setattr__(self, "digest", digest)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Reference is immutable ({name})")

    def _key(self) -> tuple[str, str, str | None, str | None]:
        return (self.host, self.repository, self.tag, self.digest)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reference) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Reference({self.host!r}, {self.repository!r}, {self.tag!r}, {self.digest!r})"

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
    if "://" in text:
        raise InvalidReferenceError(f"image reference {_short(text)!r} must not carry a URL scheme")
    host, slash, rest = text.partition("/")
    if not slash or not rest:
        raise InvalidReferenceError(
            f"image reference {_short(text)!r} needs a registry host: HOST[:PORT]/REPO(:TAG|@DIGEST)"
        )
    validate_host(host)
    digest: str | None = None
    if "@" in rest:
        rest, _, digest = rest.partition("@")
        validate_digest(digest)
    tag: str | None = None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        validate_tag(tag)
    validate_repository(rest)
    return Reference(host=host, repository=rest, tag=tag, digest=digest)
