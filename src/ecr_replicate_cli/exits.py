"""How a command ends for the person at the terminal: an exit code and at most one line on stderr.

:func:`ended_by` turns whatever stopped a subcommand into both:

==========================================  ====  ==============================================
what                                        exit  the line
==========================================  ====  ==============================================
bad input, configuration (InvalidInput...)   2    the message
another ReplicationError (registry down...)  2    ``ErrorClass: message``
no credentials / region, endpoint down,      2    what is wrong and what to set
  AWS refused (botocore)
Ctrl-C                                      130   ``interrupted``; a second Ctrl-C ends the
                                                  process at once, without a traceback
the reader went away (``| head``)           141   nothing (as a process killed by SIGPIPE)
anything else (a bug)                        70   ``internal error`` and the log file holding
                                                  the traceback (``--verbose``: on stderr)
==========================================  ====  ==============================================

Nothing here runs on the success path of ``copy`` (lean start-up): :mod:`ecr_replicate_cli.main`
imports this module only on the way out.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TextIO

from ecr_replicate.errors import ConfigurationError, InvalidInputError, ReplicationError
from ecr_replicate.oci.text import printable

EXIT_ERROR = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `yes | head`
MAX_LINE = 600

LOCAL_HINT = "for the local twin, run the `export` lines `ecr-replicate local up` prints"
CREDENTIALS_HINT = (
    "set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) for AWS; " + LOCAL_HINT
)
#: ClientError codes that mean "these credentials are not accepted here"
_REJECTED_CREDENTIALS = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "AuthFailure",
}


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """``text`` on one line, shortened, every control character escaped: a message may quote a
    registry or an AWS answer, and the terminal must not act on what they sent."""
    flat = " ".join(printable(str(text)).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe(exc: BaseException) -> str | None:
    """One line for a known kind of failure (ours or the AWS SDK's); None for anything else."""
    if isinstance(exc, InvalidInputError | ConfigurationError):
        return one_line(str(exc))
    if isinstance(exc, ReplicationError):
        return one_line(f"{type(exc).__name__}: {exc}")
    if "botocore" in sys.modules:
        return describe_aws(exc)
    return None


def _endpoint_hint() -> str:
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if endpoint:
        return f"AWS_ENDPOINT_URL is {endpoint}: is `ecr-replicate local up` still running there?"
    return f"no network to AWS? {LOCAL_HINT} (AWS_ENDPOINT_URL)"


def describe_aws(exc: BaseException) -> str | None:  # noqa: PLR0911 - one answer per kind
    """One line for a botocore failure, naming what to set when the environment is the cause."""
    from botocore import exceptions as bx  # noqa: PLC0415 - loaded already when it can apply

    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError | bx.CredentialRetrievalError):
        return f"no usable AWS credentials: {CREDENTIALS_HINT}"
    if isinstance(exc, bx.NoRegionError):
        return "no AWS region: set AWS_REGION (or pass the command's region option)"
    if isinstance(exc, bx.ProfileNotFound):
        return one_line(f"{exc}: check AWS_PROFILE")
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ConnectionClosedError):
        endpoint = getattr(exc, "kwargs", {}).get("endpoint_url") or "the AWS endpoint"
        return one_line(f"cannot reach {endpoint}: {_endpoint_hint()}")
    if isinstance(exc, bx.ReadTimeoutError):
        return one_line(f"AWS did not answer in time ({exc}); try again")
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "Error")), str(error.get("Message", ""))
        operation = getattr(exc, "operation_name", "") or "the call"
        if code in _REJECTED_CREDENTIALS:
            return one_line(f"AWS rejected the credentials ({code}: {message}): {CREDENTIALS_HINT}")
        return one_line(f"AWS refused {operation}: {code}: {message}")
    if isinstance(exc, bx.ParamValidationError):
        return one_line(f"invalid AWS request: {exc}")
    if isinstance(exc, bx.BotoCoreError):
        return one_line(f"AWS SDK: {exc}")
    return None


def ended_by(exc: BaseException, prog: str, *, verbose: bool = False, process: bool = False) -> int:
    """Report ``exc`` the way the table above says and return the exit code.

    ``process``: this is the whole program (not a call from a test): an interrupt then ends it
    at once, without waiting for worker threads that would keep the terminal for seconds.
    """
    if isinstance(exc, SystemExit):
        raise exc
    if isinstance(exc, KeyboardInterrupt):
        calm_shutdown()
        _say(f"{prog}: interrupted")
        if process:
            _flush_logs()
            os._exit(EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        detach_stdout()
        return EXIT_BROKEN_PIPE
    known = describe(exc) if isinstance(exc, Exception) else None
    if known is not None:
        _say(f"{prog}: {known}")
        return EXIT_ERROR
    where = _write_traceback(exc, prog, sys.stderr if verbose else None)
    _say(f"{prog}: internal error: {one_line(f'{type(exc).__name__}: {exc}', 300)} ({where})")
    return EXIT_INTERNAL


def _say(line: str) -> None:
    with contextlib.suppress(ValueError, OSError):
        print(line, file=sys.stderr, flush=True)


def _write_traceback(exc: BaseException, prog: str, stream: TextIO | None) -> str:
    """Write the traceback to ``stream`` (``--verbose``) or a new log file; say where it went."""
    import traceback  # noqa: PLC0415

    text = "".join(traceback.format_exception(exc))
    if stream is not None:
        stream.write(text)
        return "traceback above"
    try:
        from ecr_replicate_cli.logfile import new_log_file  # noqa: PLC0415

        path = new_log_file("error")
        path.write_text(f"{prog}\n{text}")
    except OSError:
        return "run again with --verbose for the traceback"
    return f"traceback in {path}"


def detach_stdout() -> None:
    """Point stdout at /dev/null: the reader is gone, and the flush at exit must not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def calm_shutdown() -> None:
    """From now on Ctrl-C ends the process at once and quietly (the default action of SIGINT):
    a second Ctrl-C while Python joins leftover threads would otherwise print a traceback."""
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_DFL)


def _flush_logs() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    if "logging" in sys.modules:
        import logging  # noqa: PLC0415

        logging.shutdown()


def log_to_stderr() -> None:
    """``--verbose``: the library's log records on stderr."""
    import logging  # noqa: PLC0415

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
