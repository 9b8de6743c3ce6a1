#!/usr/bin/env bash
# Prepare a fresh Debian machine (as root, or with sudo) for the demo and the tests:
# Debian's docker-registry (CNCF distribution) and skopeo, then a venv with the project.
# Usage: scripts/bootstrap.sh [EXTRAS]   (EXTRAS defaults to "dev")
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev}"
venv="${VENV:-.venv}"

# The interpreter: Debian's own python3 when it is there, rather than whatever python3 comes
# first on PATH: the one the tests and benchmarks were measured with, with its ssl linked to
# Debian's OpenSSL and updated by Debian's security updates. PYTHON=/path/to/python3 overrides.
python="${PYTHON:-}"
if [ -z "$python" ]; then
  python=/usr/bin/python3
  [ -x "$python" ] || python="$(command -v python3 || echo /usr/bin/python3)"
fi

need=()
if [ ! -x "$venv/bin/python" ]; then
  if ! command -v "$python" >/dev/null 2>&1; then
    need+=(python3 python3-venv)
  elif ! "$python" -c "import ensurepip" >/dev/null 2>&1; then
    need+=(python3-venv)  # Debian ships venv's ensurepip apart
  fi
fi
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v curl >/dev/null 2>&1 || need+=(curl)
[ -x /usr/bin/time ] || need+=(time)
if [ "${#need[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's package may start a system-wide registry on :5000 (all interfaces); we never use it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
fi

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
# `sam validate --lint` (a test runs it) from its own venv: aws-sam-cli pins versions of boto3,
# pydantic and packaging that fight checkov's and moto's.
if [ "$extras" = "dev" ] && [ ! -x .venv-sam/bin/sam ]; then
  "$python" -m venv .venv-sam
  .venv-sam/bin/pip install -q "aws-sam-cli==1.170.0"
fi

stamp="$venv/.installed-$extras"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -e ".[$extras]"
  touch "$stamp"
fi
