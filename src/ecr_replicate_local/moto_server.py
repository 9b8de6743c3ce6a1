"""moto's threaded server on 127.0.0.1 with the configuration the local twin needs.

Step Functions executes state machines (moto's LocalStack interpreter), Lambda never uses
docker (the twin runs functions itself), IAM knows AWS's managed policies (the SAM roles attach
``AWSLambdaBasicExecutionRole``...). Every start begins from a clean account. Clients this
process cached from an earlier server are forgotten (:func:`forget_cached_clients`).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

LOOPBACK = "127.0.0.1"
_QUIET_LOGGERS = ("moto.stepfunctions.parser", "werkzeug")
logger = logging.getLogger(__name__)


class MotoServer:
    def __init__(self) -> None:
        self.endpoint_url = ""
        self._server: Any = None
        self._saved_config: dict[str, Any] = {}
        self._saved_levels: dict[str, int] = {}
        self._saved_port: str | None = None

    def start(self) -> None:
        from moto.core.base_backend import BackendDict  # noqa: PLC0415 - moto is heavy
        from moto.core.config import default_user_config  # noqa: PLC0415
        from moto.server import ThreadedMotoServer  # noqa: PLC0415

        forget_cached_clients()
        current: dict[str, Any] = dict(default_user_config)
        self._saved_config = {k: dict(current.get(k) or {}) for k in ("stepfunctions", "lambda", "iam")}
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        default_user_config["lambda"] = {"use_docker": False}
        default_user_config["iam"] = {"load_aws_managed_policies": True}
        BackendDict.reset()  # a clean account: no state left by an earlier server or mock
        for name in _QUIET_LOGGERS:
            lg = logging.getLogger(name)
            self._saved_levels[name] = lg.level
            lg.setLevel(logging.CRITICAL)
        self._server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
        self._server.start()
        _, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{LOOPBACK}:{port}"
        self._saved_port = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = str(port)  # moto's own clients of itself, if any are left

    def stop(self) -> None:
        """Stop the server, restore moto's configuration and loggers. Safe to call twice."""
        if self._server is not None:
            try:
                self._server.stop()
            except Exception as exc:  # keep undoing the rest
                logger.warning("moto server did not stop cleanly: %s", exc)
            self._server = None
            if self._saved_port is None:
                os.environ.pop("MOTO_PORT", None)
            else:
                os.environ["MOTO_PORT"] = self._saved_port
        for name, level in self._saved_levels.items():
            logging.getLogger(name).setLevel(level)
        self._saved_levels.clear()
        if self._saved_config:
            from moto.core.base_backend import BackendDict  # noqa: PLC0415
            from moto.core.config import default_user_config  # noqa: PLC0415

            default_user_config.update(self._saved_config)  # type: ignore[typeddict-item]
            self._saved_config = {}
            BackendDict.reset()
        forget_cached_clients()


def forget_cached_clients() -> None:
    """Forget what ``ecr_replicate`` modules cached in this process (``lru_cache``d boto3
    clients, parsed settings) and boto3's default session (it keeps the credentials it first
    read): clients made for an earlier endpoint or identity must not be reused."""
    boto3 = sys.modules.get("boto3")
    if boto3 is not None:
        setattr(boto3, "DEFAULT_SESSION", None)  # noqa: B010 - boto3's stubs do not declare it
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("ecr_replicate."):
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear) and getattr(value, "__module__", None) == name:
                clear()
