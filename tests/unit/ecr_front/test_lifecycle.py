"""start()/stop(): free loopback ports, nothing left behind, even with clients still connected."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable

import pytest

from ecr_replicate_local.ecr_front import EcrFront
from ecr_replicate_local.registry import LocalRegistry
from ecr_replicate_local.tls import LocalCertificateAuthority
from tests.unit.ecr_front.conftest import ACCOUNT, REGION, Rig
from tests.unit.ecr_front.fakes import FakeAuthorizer, FakeCatalog, FakeTokens


def _refuses(host: str) -> bool:
    address, port = host.split(":")
    try:
        socket.create_connection((address, int(port)), timeout=2).close()
    except OSError:
        return True
    return False


def test_stop_closes_ports_and_joins_threads_even_with_idle_clients(
    registry_factory: Callable[..., LocalRegistry], ca: LocalCertificateAuthority
) -> None:
    registry = registry_factory("lifecycle")
    before = set(threading.enumerate())
    front = EcrFront(
        upstream=registry.host,
        region=REGION,
        account=ACCOUNT,
        certificate=ca.issue("lifecycle"),
        authorizer=FakeAuthorizer(),
        tokens=FakeTokens(),
        repositories=FakeCatalog(),
    )
    with front:
        hosts = (front.host, front.s3_host)
        assert all(host.startswith("127.0.0.1:") for host in hosts)
        # a client that completed the handshake and went silent, and one that never handshakes
        address, port = front.host.split(":")
        idle = ca.client_context().wrap_socket(
            socket.create_connection((address, int(port))), server_hostname=address
        )
        silent = socket.create_connection((address, int(port)))
        time.sleep(0.2)
        started = time.monotonic()
    assert time.monotonic() - started < 5
    idle.close()
    silent.close()
    assert all(_refuses(host) for host in hosts)
    assert set(threading.enumerate()) <= before


def test_a_stopped_front_starts_again_on_new_ports(rig: Rig) -> None:
    old = rig.front.host
    rig.front.stop()
    assert not rig.front.running and _refuses(old)
    rig.front.start()
    assert rig.request("GET", "/v2/").status == 200


def test_the_front_checks_its_region_and_account(ca: LocalCertificateAuthority) -> None:
    common = {
        "upstream": "127.0.0.1:1",
        "certificate": ca.issue("checks"),
        "authorizer": FakeAuthorizer(),
        "tokens": FakeTokens(),
        "repositories": FakeCatalog(),
    }
    with pytest.raises(ValueError, match="region"):
        EcrFront(region="Europe", account=ACCOUNT, **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="account"):
        EcrFront(region=REGION, account="12", **common)  # type: ignore[arg-type]
    front = EcrFront(region=REGION, account=ACCOUNT, **common)  # type: ignore[arg-type]
    assert front.registry_name == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


def test_a_stopped_registry_behind_the_front_answers_503(rig: Rig) -> None:
    rig.registry.stop()
    response = rig.request("GET", "/v2/team/app/tags/list")
    assert response.status == 503
    assert b"UNAVAILABLE" in response.data


def test_the_server_certificate_verifies_against_the_ca_for_ip_and_name(rig: Rig) -> None:
    port = int(rig.front.host.split(":")[1])
    for name in ("127.0.0.1", "localhost"):
        context = rig.ca.client_context()
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
            context.wrap_socket(sock, server_hostname=name) as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    wrong = ssl.create_default_context(cafile=str(rig.ca.ca_file))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        wrong.wrap_socket(sock, server_hostname="example.com")
