"""Standard registry credentials for non-ECR registries (issue 12 item 5), and the scheme rule
of the ECR provider: Docker's config.json (auths, credHelpers, credsStore through
docker-credential-* helpers), containers' auth.json (REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR), and
the chain the CLI uses (ECR hosts keep GetAuthorizationToken)."""

from __future__ import annotations

import base64
import datetime
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from ecr_replicate.credentials import (
    ChainCredentials,
    DockerConfigCredentials,
    EcrCredentials,
    cli_credentials,
)
from ecr_replicate.errors import AuthenticationError, ConfigurationError

HOST = "registry.example.com"
ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def helper(bin_dir: Path, name: str, script: str) -> Path:
    """A docker-credential-<name> program (Python) on ``bin_dir``; it logs its argv and stdin."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / f"docker-credential-{name}"
    path.write_text(f"#!{sys.executable}\n{script}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


LOGGING_HELPER = """
import json, sys, pathlib
server = sys.stdin.read()
pathlib.Path(__file__).with_suffix(".log").open("a").write(json.dumps([sys.argv[1:], server]) + "\\n")
if server.strip() == "registry.example.com":
    print(json.dumps({"ServerURL": server, "Username": "helper-user", "Secret": "helper-secret"}))
else:
    print("credentials not found in native keychain")
    sys.exit(1)
"""


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home"), "PATH": str(tmp_path / "bin"), **extra}


def test_docker_config_auths_in_their_three_shapes(tmp_path: Path) -> None:
    config = write(tmp_path / "home/.docker/config.json", {"auths": {
        HOST: {"auth": b64("alice:pw1")},
        "https://other.example.com/v1/": {"username": "bob", "password": "pw2"},
        "http://plain.example.com:5000": {"auth": b64("carol:pw:with:colons")},
    }})  # fmt: skip
    creds = DockerConfigCredentials(env=env_for(tmp_path))
    assert creds.paths()[-1] == config
    assert creds.get(HOST) == ("alice", "pw1")
    assert creds.get("other.example.com") == ("bob", "pw2")
    assert creds.get("plain.example.com:5000") == ("carol", "pw:with:colons")
    assert creds.get("nowhere.example.com") is None


def test_docker_config_from_docker_config_dir(tmp_path: Path) -> None:
    write(tmp_path / "dc/config.json", {"auths": {HOST: {"auth": b64("dc:pw")}}})
    creds = DockerConfigCredentials(env=env_for(tmp_path, DOCKER_CONFIG=str(tmp_path / "dc")))
    assert creds.get(HOST) == ("dc", "pw")


def test_containers_auth_json_comes_before_docker_config(tmp_path: Path) -> None:
    write(tmp_path / "home/.docker/config.json", {"auths": {HOST: {"auth": b64("docker:pw")}}})
    write(tmp_path / "run/containers/auth.json", {"auths": {HOST: {"auth": b64("podman:pw")}}})
    env = env_for(tmp_path, XDG_RUNTIME_DIR=str(tmp_path / "run"))
    assert DockerConfigCredentials(env=env).get(HOST) == ("podman", "pw")


def test_registry_auth_file_comes_first(tmp_path: Path) -> None:
    write(tmp_path / "run/containers/auth.json", {"auths": {HOST: {"auth": b64("podman:pw")}}})
    special = write(tmp_path / "special.json", {"auths": {HOST: {"auth": b64("special:pw")}}})
    env = env_for(tmp_path, XDG_RUNTIME_DIR=str(tmp_path / "run"), REGISTRY_AUTH_FILE=str(special))
    assert DockerConfigCredentials(env=env).get(HOST) == ("special", "pw")


def test_an_explicit_authfile_is_the_only_file(tmp_path: Path) -> None:
    write(tmp_path / "home/.docker/config.json", {"auths": {"b.example.com": {"auth": b64("docker:pw")}}})
    authfile = write(tmp_path / "mine.json", {"auths": {HOST: {"auth": b64("mine:pw")}}})
    creds = DockerConfigCredentials([authfile], env=env_for(tmp_path))
    assert creds.get(HOST) == ("mine", "pw")
    assert creds.get("b.example.com") is None


def test_cred_helpers_and_creds_store_run_the_helper_with_argv_and_stdin(tmp_path: Path) -> None:
    log = helper(tmp_path / "bin", "fake", LOGGING_HELPER).with_suffix(".log")
    write(tmp_path / "home/.docker/config.json", {"credHelpers": {HOST: "fake"}})
    creds = DockerConfigCredentials(env=env_for(tmp_path))
    assert creds.get(HOST) == ("helper-user", "helper-secret")
    assert json.loads(log.read_text().splitlines()[0]) == [["get"], HOST]
    write(tmp_path / "home/.docker/config.json", {"credsStore": "fake"})
    store = DockerConfigCredentials(env=env_for(tmp_path))
    assert store.get(HOST) == ("helper-user", "helper-secret")
    assert store.get("unknown.example.com") is None  # "credentials not found": anonymous


def test_a_hanging_helper_ends_in_a_typed_error(tmp_path: Path) -> None:
    helper(tmp_path / "bin", "slow", "import time\ntime.sleep(30)\n")
    write(tmp_path / "home/.docker/config.json", {"credsStore": "slow"})
    creds = DockerConfigCredentials(env=env_for(tmp_path), helper_timeout=0.5)
    with pytest.raises(AuthenticationError, match="docker-credential-slow"):
        creds.get(HOST)


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"credsStore": "../../bin/sh"}, ConfigurationError),
        ({"credsStore": "absent"}, ConfigurationError),
        ({"auths": {HOST: {"auth": "not base64!"}}}, ConfigurationError),
        ({"auths": {HOST: {"auth": b64("no-colon")}}}, ConfigurationError),
        ({"auths": {HOST: "a string"}}, ConfigurationError),
        ("not an object", ConfigurationError),
    ],
)
def test_bad_config_is_a_typed_error_naming_the_file_not_the_secret(
    tmp_path: Path, config: Any, error: type[Exception]
) -> None:
    path = write(tmp_path / "home/.docker/config.json", config)
    with pytest.raises(error) as info:
        DockerConfigCredentials(env=env_for(tmp_path)).get(HOST)
    assert str(path) in str(info.value) or "docker-credential" in str(info.value)
    assert "no-colon" not in str(info.value)


def test_a_helper_that_prints_garbage_is_a_typed_error(tmp_path: Path) -> None:
    helper(tmp_path / "bin", "garbage", "print('{not json')\n")
    write(tmp_path / "home/.docker/config.json", {"credsStore": "garbage"})
    with pytest.raises(AuthenticationError):
        DockerConfigCredentials(env=env_for(tmp_path)).get(HOST)


def test_an_unreadable_json_file_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "home/.docker/config.json"
    path.parent.mkdir(parents=True)
    path.write_text("{")
    with pytest.raises(ConfigurationError, match=r"config\.json"):
        DockerConfigCredentials(env=env_for(tmp_path)).get(HOST)


class _Client:
    def __init__(self) -> None:
        self.calls = 0

    def get_authorization_token(self) -> dict[str, Any]:
        self.calls += 1
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=12)
        return {
            "authorizationData": [{"authorizationToken": b64(f"AWS:token{self.calls}"), "expiresAt": expires}]
        }


def test_the_ecr_token_never_goes_over_plain_http() -> None:
    client = _Client()
    creds = EcrCredentials(lambda region: client, endpoints={"eu-west-1": "127.0.0.1:5002"})
    assert creds.get(ECR_HOST, "https") == ("AWS", "token1")
    with pytest.raises(ConfigurationError, match="plain http"):
        creds.get(ECR_HOST, "http")
    with pytest.raises(ConfigurationError, match="plain http"):
        creds.get("127.0.0.1:5002", "http")
    assert creds.get("127.0.0.1:9", "http") is None  # not an ECR registry: not this provider's


def test_the_loopback_plain_http_setting_allows_http_for_its_hosts_only() -> None:
    client = _Client()
    creds = EcrCredentials(
        lambda region: client, endpoints={"eu-west-1": "127.0.0.1:5002"}, plain_http_hosts={"127.0.0.1:5002"}
    )
    assert creds.get("127.0.0.1:5002", "http") == ("AWS", "token1")
    with pytest.raises(ConfigurationError):
        creds.get(ECR_HOST, "http")
    with pytest.raises(ConfigurationError, match="loopback"):
        EcrCredentials(lambda region: client, plain_http_hosts={"registry.example.com"})


def test_the_cli_chain_asks_ecr_for_ecr_hosts_and_the_files_for_the_rest(tmp_path: Path) -> None:
    write(tmp_path / "home/.docker/config.json", {"auths": {
        HOST: {"auth": b64("alice:pw")}, ECR_HOST: {"auth": b64("stale:docker-login")},
    }})  # fmt: skip
    client = _Client()
    chain = cli_credentials(lambda region: client, env=env_for(tmp_path))
    assert isinstance(chain, ChainCredentials)
    assert chain.get(ECR_HOST) == ("AWS", "token1")
    assert chain.get(HOST) == ("alice", "pw")
    assert chain.get("unknown.example.com") is None
    chain.invalidate(ECR_HOST)
    assert chain.get(ECR_HOST) == ("AWS", "token2")


def test_no_environment_means_no_files(tmp_path: Path) -> None:
    creds = DockerConfigCredentials(env={})
    assert creds.get(HOST) is None
    assert os.environ.get("HOME") is None or all(str(p).startswith("/") for p in creds.paths())
