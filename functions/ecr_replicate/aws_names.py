"""The AWS names our code checks before it uses them: region, account id, ECR registry host.

One definition each, for the deployed code, the CLI and the local twin (the ECR front and the
local regions import them from here). The ``*_PATTERN`` strings are anchored for pydantic's
``Field(pattern=...)``; the compiled ``*_RE`` are meant for ``fullmatch``.
"""

from __future__ import annotations

import re

_REGION = r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}"
_ACCOUNT = r"[0-9]{12}"

REGION_PATTERN = rf"^{_REGION}$"
ACCOUNT_PATTERN = rf"^{_ACCOUNT}$"
REGION_RE = re.compile(_REGION)
ACCOUNT_RE = re.compile(_ACCOUNT)
ECR_HOST_RE = re.compile(
    rf"(?P<account>{_ACCOUNT})\.dkr\.ecr(?:-fips)?\.(?P<region>{_REGION})\.amazonaws\.com(?:\.cn)?"
)


def ecr_registry_host(account: str, region: str) -> str:
    """``<account>.dkr.ecr.<region>.amazonaws.com`` (``.com.cn`` in the China partition)."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}"
