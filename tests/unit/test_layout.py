"""The layers of the repository: imports point one way, and the deployed package holds only what
runs on AWS.

    ecr_replicate_local  ->  ecr_replicate_cli  ->  ecr_replicate (deployed: functions/)

``tests`` and ``bench`` may import anything; nothing above imports them. The copier
(``ecr_replicate.oci``) knows nothing of AWS.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "ecr_replicate": ROOT / "functions" / "ecr_replicate",
    "ecr_replicate_cli": ROOT / "src" / "ecr_replicate_cli",
    "ecr_replicate_local": ROOT / "src" / "ecr_replicate_local",
}
#: what each package must never import (directly, lazily or under TYPE_CHECKING)
FORBIDDEN = {
    "ecr_replicate": {"ecr_replicate_cli", "ecr_replicate_local", "tests", "bench", "moto", "yaml"},
    "ecr_replicate_cli": {"ecr_replicate_local", "tests", "bench", "moto"},
    "ecr_replicate_local": {"tests", "bench"},
}
NO_AWS_IN_THE_COPIER = {"boto3", "botocore", "aws_lambda_powertools", "ecr_replicate.ecr"}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth of the file (absolute names)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def offending(path: Path, forbidden: set[str]) -> list[str]:
    return sorted(
        name
        for name in imported_modules(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    )


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_imports_point_one_way(package: str) -> None:
    problems = {
        str(path.relative_to(ROOT)): bad
        for path in sorted(PACKAGES[package].rglob("*.py"))
        if (bad := offending(path, FORBIDDEN[package]))
    }
    assert problems == {}


def test_the_copier_knows_nothing_of_aws() -> None:
    problems = {
        str(path.relative_to(ROOT)): bad
        for path in sorted((PACKAGES["ecr_replicate"] / "oci").rglob("*.py"))
        if (bad := offending(path, NO_AWS_IN_THE_COPIER))
    }
    assert problems == {}


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from ecr_replicate_local.engine import LocalAws\n    import moto.core\n")
    assert offending(sample, FORBIDDEN["ecr_replicate"]) == [
        "ecr_replicate_local.engine",
        "ecr_replicate_local.engine.LocalAws",
        "moto.core",
    ]


def test_the_deployed_code_uri_holds_only_the_deployed_package() -> None:
    """Every function's CodeUri is functions/: the core package and its runtime requirements."""
    tracked = subprocess.run(
        ["git", "ls-files", "functions"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert {Path(name).parts[1] for name in tracked} == {"ecr_replicate", "requirements.txt"}
    subpackages = {Path(name).parts[2] for name in tracked if len(Path(name).parts) > 3}
    assert subpackages == {"handlers", "oci"}
