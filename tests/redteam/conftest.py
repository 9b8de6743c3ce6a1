"""Red-team fixtures: the hostile suite's servers and fast retry policy, reused as they are.

Every server is on 127.0.0.1 and stopped (by the fixture) at teardown; every test is guarded by
pytest-timeout, so a hang is a failure, never a stuck run.
"""

from __future__ import annotations

from tests.hostile.conftest import retry, servers, tls  # noqa: F401 - fixtures, re-exported
