"""A certificate authority made per run, for the local twin's https servers.

``LocalCertificateAuthority.create(directory)`` makes a CA (EC P-256, valid for a few days) and
writes its certificate to ``directory/ca.pem``: that file is what our processes get as
``REGISTRY_CA_FILE`` (trusted *instead of* the system store, like ``curl --cacert``). Nothing
here touches the system trust store. The CA's private key never leaves memory; leaf keys are
written next to their certificates with mode 0600, because ``ssl`` loads them from files.

``issue(name)`` makes a server certificate for 127.0.0.1 and localhost (IP and DNS SANs).
``server_context()`` / ``client_context()`` build TLS 1.2+ contexts from them.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("127.0.0.1", "localhost")
CA_FILE_NAME = "ca.pem"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class ServerCertificate:
    """A leaf certificate (PEM, followed by the CA's) and its private key, as files."""

    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side context for this certificate: TLS 1.2 or newer only."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ecr-replicate local twin"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a file only its owner can read (created so, never widened later)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _subject_alternative_names(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


class LocalCertificateAuthority:
    """A CA for one run of the local twin. Use :meth:`create`."""

    def __init__(
        self,
        directory: Path,
        key: ec.EllipticCurvePrivateKey,
        certificate: x509.Certificate,
        valid_for: datetime.timedelta,
    ) -> None:
        self.directory = directory
        self._key = key
        self.certificate = certificate
        self._valid_for = valid_for

    @classmethod
    def create(
        cls,
        directory: Path | str,
        *,
        common_name: str = "ecr-replicate local CA",
        valid_for: datetime.timedelta = datetime.timedelta(days=7),
    ) -> LocalCertificateAuthority:
        """Make a new CA and write its certificate to ``directory/ca.pem``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        name = _name(common_name)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + valid_for)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        (directory / CA_FILE_NAME).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(directory, key, certificate, valid_for)

    @property
    def ca_file(self) -> Path:
        """The CA certificate (PEM): the value of ``REGISTRY_CA_FILE``."""
        return self.directory / CA_FILE_NAME

    def issue(self, name: str, hosts: Sequence[str] = DEFAULT_HOSTS) -> ServerCertificate:
        """A server certificate for ``hosts`` (IP addresses or DNS names), written as
        ``<name>.pem`` (leaf + CA) and ``<name>-key.pem`` in the CA's directory."""
        if not _SAFE_NAME.fullmatch(name):
            raise ValueError(f"certificate name {name!r} is not a plain file name")
        if not hosts:
            raise ValueError("a server certificate needs at least one host")
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(hosts[0]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(min(now + self._valid_for, self.certificate.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_subject_alternative_names(hosts), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        cert_file = self.directory / f"{name}.pem"
        key_file = self.directory / f"{name}-key.pem"
        _write_private(key_file, _private_pem(key))
        cert_file.write_bytes(
            certificate.public_bytes(serialization.Encoding.PEM)
            + self.certificate.public_bytes(serialization.Encoding.PEM)
        )
        return ServerCertificate(cert_file, key_file)

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA only (not the system store), TLS 1.2+."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context
