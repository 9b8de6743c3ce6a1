"""``logging.getLogger(name)`` for the copy path, without importing ``logging`` at start-up.

``ecr-replicate copy`` is timed as a whole process, and ``logging`` (with the ``traceback``,
``linecache``, ``tokenize``, ``textwrap`` and ``string`` modules it imports) is a seventh of a
warm copy's start-up. This logger looks the real one up at the first record that could be
emitted, and behaves exactly as it would:

- if anything has imported ``logging`` (an application, pytest, Lambda's runtime, our own
  handlers), every call goes to ``logging.getLogger(name)``, with its levels and handlers;
- if nothing has, nothing can have configured it: the root logger's default level (WARNING)
  would drop DEBUG and INFO records, so they are dropped here without the import, and WARNING
  and above import ``logging`` and go through it (its last-resort handler prints them).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    import logging
    from typing import Any

_WARNING = 30  # logging.WARNING


class LazyLogger:
    __slots__ = ("_logger", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._logger: logging.Logger | None = None

    def _target(self, level: int) -> logging.Logger | None:
        if self._logger is None:
            if level < _WARNING and "logging" not in sys.modules:
                return None
            import logging  # noqa: PLC0415 - see the module docstring

            self._logger = logging.getLogger(self.name)
        return self._logger

    def log(self, level: int, msg: str, *args: Any, **kwargs: Any) -> None:
        target = self._target(level)
        if target is not None:  # Logger.log checks the level itself
            kwargs.setdefault("stacklevel", 2)
            target.log(level, msg, *args, **kwargs)

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(10, msg, *args, **{"stacklevel": 3, **kwargs})

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(20, msg, *args, **{"stacklevel": 3, **kwargs})

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(30, msg, *args, **{"stacklevel": 3, **kwargs})

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(40, msg, *args, **{"stacklevel": 3, **kwargs})


def get_logger(name: str) -> LazyLogger:
    """Use as ``logger = get_logger(__name__)`` where ``logging.getLogger(__name__)`` would be."""
    return LazyLogger(name)
