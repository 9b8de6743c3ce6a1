"""A throwaway CA, a leaf certificate for 127.0.0.1, and a docker-registry serving https with it.

The CA file goes to the copier as ``RegistryConfig(ca_file=...)`` (or ``REGISTRY_CA_FILE``): no
system trust store is touched. Keys are EC P-256, certificates valid for a day.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ecr_replicate_local.registry import LocalRegistry

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the CA certificate (what clients trust) and the server's certificate and key."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_tls_files(directory: Path, *, common_name: str = "ecr-replicate test CA") -> TlsFiles:
    """Write ``ca.pem``, ``server.pem`` and ``server.key`` (SAN: IP 127.0.0.1) under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    lifetime = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(lifetime[0])
        .not_valid_after(lifetime[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(LOOPBACK))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(lifetime[0])
        .not_valid_after(lifetime[1])
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.IPv4Address(LOOPBACK))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(_pem_key(key))
    files.key_file.chmod(0o600)
    return files


@dataclass
class TlsRegistry(LocalRegistry):
    """A ``docker-registry`` serving https (``http.tls``) with a certificate of :func:`make_tls_files`."""

    tls: TlsFiles | None = None

    @classmethod
    def temporary_tls(cls, name: str = "registry") -> TlsRegistry:
        registry = cls.temporary(name)
        assert isinstance(registry, TlsRegistry)
        registry.tls = make_tls_files(registry.root / "tls")
        return registry

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    def config(self) -> dict[str, Any]:
        assert self.tls is not None, "TlsRegistry needs its TLS files (use temporary_tls)"
        cfg = super().config()
        cfg["http"]["tls"] = {"certificate": str(self.tls.cert_file), "key": str(self.tls.key_file)}
        return cfg

    def _probe_connection(self) -> http.client.HTTPConnection:
        assert self.tls is not None
        context = ssl.create_default_context(cafile=str(self.tls.ca_file))
        return http.client.HTTPSConnection(LOOPBACK, self.port, timeout=1, context=context)
