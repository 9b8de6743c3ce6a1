"""Every error this project raises, under one base class.

The class names are a contract: the state machine's ``Retry``/``Catch`` ``ErrorEquals`` lists
match them by name, exactly (Lambda reports ``errorType`` = the class name; Step Functions knows
nothing of subclasses). :data:`ERROR_CLASSES` is every class defined here; an error of a class
defined elsewhere (an internal subclass such as the copier's ``TransferInterrupted``) leaves a
handler as its nearest ancestor in :data:`ERROR_CLASSES` (:func:`reported`), so it is retried or
caught under a name the ASL knows. Renaming a class here means changing
``statemachine/replicate.asl.json`` too; ``tests/unit/test_errors_contract.py`` checks that every
retryable class reaches every Lambda Task under a name its ``Retry`` lists.

Each class says whether retrying the same request could succeed (``retryable``). Messages never
contain credentials: registry error bodies are truncated and scrubbed before they get here.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ReplicationError(Exception):
    """Base class of every error raised by ecr_replicate."""

    retryable: ClassVar[bool] = False

    def to_dict(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "cause": str(self), "retryable": self.retryable}


# --- bad input: never retried, nothing is changed -------------------------------------------


class InvalidInputError(ReplicationError):
    """An event, a manual input or a command-line argument is malformed."""


class InvalidReferenceError(InvalidInputError):
    """A registry/repository/tag/digest reference does not follow the OCI grammar."""


class ConfigurationError(ReplicationError):
    """The deployment's configuration (environment variables, parameters) is invalid."""


class UnsupportedManifestError(ReplicationError):
    """A manifest cannot be copied: not JSON, unknown shape, too large, cyclic, too many blobs."""


# --- registry data plane (OCI distribution API) ----------------------------------------------


class RegistryError(ReplicationError):
    """A registry answered with an error, or could not be reached.

    ``status`` is the HTTP status (0 when no response), ``code`` the OCI error code
    (``MANIFEST_UNKNOWN``, ``TOOMANYREQUESTS`` ...) when the body carried one.
    """

    def __init__(self, message: str, *, status: int = 0, code: str = "", host: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.host = host

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.update(status=self.status, code=self.code)
        return data


class RegistryUnavailableError(RegistryError):
    """Connection refused/reset, timeout, 408 or 5xx: transient, retry with backoff."""

    retryable = True


class RegistryThrottledError(RegistryUnavailableError):
    """429 TOOMANYREQUESTS: retry after the Retry-After the registry asked for."""


class AuthenticationError(RegistryError):
    """401/403 that persisted after one re-authentication."""


class RegistryTlsError(RegistryError):
    """TLS failed in a way retrying cannot fix: the certificate does not verify against the trusted
    CAs (``REGISTRY_CA_FILE`` or the system store), it does not name the host, or the registry does
    not speak TLS at all. Permanent: fix the trust or the address, then run again."""


class RegistryProtocolError(RegistryError):
    """A registry's answer broke the protocol in a way retrying cannot fix: a malformed status line
    or header, an invalid digest or name in a header, an upload Location or redirect that is not
    acceptable, a body over its size limit."""


class DeadlineExceededError(ReplicationError):
    """The copy's overall time budget (``--timeout``; in Lambda the remaining time minus a margin)
    ran out: a slow or dripping registry. Not retried by the copier; the state machine's Catch
    records the region as failed and it can be re-run."""


class ImageNotFoundError(RegistryError):
    """The source manifest or blob does not exist (MANIFEST_UNKNOWN, BLOB_UNKNOWN, 404)."""


class RepositoryNotFoundError(RegistryError):
    """NAME_UNKNOWN: the repository does not exist in that registry."""


class TagImmutableError(RegistryError):
    """The target tag exists in an immutable repository and points elsewhere."""


class ManifestRejectedError(RegistryError):
    """The target refused a manifest (MANIFEST_INVALID, MANIFEST_BLOB_UNKNOWN, UNSUPPORTED)."""


class BlobIntegrityError(ReplicationError):
    """Bytes read do not match the descriptor (length or digest): the source is corrupt."""


# --- AWS control plane (boto3) ----------------------------------------------------------------


class AwsThrottledError(ReplicationError):
    """An AWS API throttled us (ThrottlingException, TooManyRequests...)."""

    retryable = True


class AwsTransientError(ReplicationError):
    """An AWS API failed in a way that may pass (ServerException, 5xx, endpoint errors)."""

    retryable = True


class AwsPermanentError(ReplicationError):
    """An AWS API refused the request (validation, access denied, quota reached, KMS...)."""


# --- workflow outcomes --------------------------------------------------------------------------


class ReplicationFailed(ReplicationError):  # noqa: N818 - the name users read in the console
    """At least one region failed; raised/reported by the workflow's final state."""


ERROR_CLASSES: dict[str, type[ReplicationError]] = {
    value.__name__: value
    for value in list(globals().values())
    if isinstance(value, type) and issubclass(value, ReplicationError) and value.__module__ == __name__
}
"""The contract: every class of this module, by the name the state machine sees."""


def reported_class(cls: type[ReplicationError]) -> type[ReplicationError]:
    """The class ``cls`` is reported as: itself if it is in the contract, else its nearest
    ancestor that is (ReplicationError at the latest)."""
    for ancestor in cls.__mro__:
        if ERROR_CLASSES.get(ancestor.__name__) is ancestor:
            return ancestor  # type: ignore[return-value]
    return ReplicationError


def reported(exc: ReplicationError) -> ReplicationError:
    """``exc`` as the state machine must see it: unchanged if its class is in the contract, else
    the same error (message and attributes) as an instance of :func:`reported_class`."""
    cls = reported_class(type(exc))
    if cls is type(exc):
        return exc
    twin = cls.__new__(cls)
    twin.args = exc.args
    twin.__dict__.update(vars(exc))
    return twin
