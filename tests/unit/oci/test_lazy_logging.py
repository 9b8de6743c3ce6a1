"""LazyLogger: the real logger's behaviour, without importing logging when nothing could print."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from ecr_replicate.oci.lazy_logging import get_logger


def run_fresh(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a new interpreter, where nothing has imported logging."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )


def test_debug_and_info_do_not_import_logging_when_nobody_did() -> None:
    done = run_fresh(
        "import sys\n"
        "from ecr_replicate.oci.lazy_logging import get_logger\n"
        "log = get_logger('ecr_replicate.x')\n"
        "log.debug('d %s', 1); log.info('i %s', 2)\n"
        "print('logging' in sys.modules)\n"
    )
    assert done.stdout.strip() == "False"
    assert done.stderr == ""  # as the real logger: the root's WARNING level drops them


def test_warnings_reach_logging_last_resort_handler() -> None:
    done = run_fresh(
        "from ecr_replicate.oci.lazy_logging import get_logger\n"
        "get_logger('ecr_replicate.x').warning('careful: %s', 'disk')\n"
    )
    assert done.stderr.strip() == "careful: disk"


def test_configured_logging_gets_every_record_with_the_callers_location(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = get_logger("ecr_replicate.oci.test_lazy")
    with caplog.at_level(logging.DEBUG, logger="ecr_replicate.oci.test_lazy"):
        log.debug("moved %d bytes", 5)
        log.info("tagged %s", "v1")
        log.error("failed")
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("ecr_replicate.oci.test_lazy", logging.DEBUG, "moved 5 bytes"),
        ("ecr_replicate.oci.test_lazy", logging.INFO, "tagged v1"),
        ("ecr_replicate.oci.test_lazy", logging.ERROR, "failed"),
    ]
    assert {r.funcName for r in caplog.records} == {
        "test_configured_logging_gets_every_record_with_the_callers_location"
    }
    assert {r.filename for r in caplog.records} == {"test_lazy_logging.py"}


def test_levels_set_on_the_real_logger_apply(caplog: pytest.LogCaptureFixture) -> None:
    log = get_logger("ecr_replicate.oci.test_lazy_levels")
    logging.getLogger("ecr_replicate.oci.test_lazy_levels").setLevel(logging.WARNING)
    with caplog.at_level(logging.DEBUG):
        log.info("dropped")
        log.warning("kept")
    assert [r.getMessage() for r in caplog.records if r.name.endswith("levels")] == ["kept"]
