"""The front's WSGI app: authenticate, authorise, check the repository, then relay.

Per request, in ECR's order: the Basic ``AWS:<token>`` credential (401 / 403 expired), the IAM
action of the call against the token's principal (403 ``DENIED``), the throttle (429), the
repository in the control plane (404 ``NAME_UNKNOWN``), then the call itself, relayed to the
region's docker-registry with ECR's differences applied (``calls.py``). Every request ends as
one journal entry and, when denied or failed, one log line; neither holds a secret.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ecr_replicate_local.ecr_front import answers
from ecr_replicate_local.ecr_front.answers import Answer
from ecr_replicate_local.ecr_front.calls import Calls
from ecr_replicate_local.ecr_front.contracts import Authorizer, RepositoryCatalog, TokenValidator
from ecr_replicate_local.ecr_front.journal import Journal, JournalEntry
from ecr_replicate_local.ecr_front.routes import BadRoute, Kind, Route, parse
from ecr_replicate_local.ecr_front.throttle import Throttle
from ecr_replicate_local.ecr_front.upstream import ClientGone, UpstreamUnavailable

logger = logging.getLogger(__name__)

MAX_AUTHORIZATION_LENGTH = 16_384


@dataclass
class _Outcome:
    """What the journal records about one request, filled in as the checks pass."""

    principal: str | None = None
    action: str | None = None
    resource: str | None = None
    allowed: bool | None = None


def basic_token(header: str | None) -> str | None:
    """The password of a Basic ``AWS:<password>`` credential; None for anything else."""
    if not header or len(header) > MAX_AUTHORIZATION_LENGTH:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if user != "AWS" or not sep or not password:
        return None
    return password


class RegistryApp:
    def __init__(
        self,
        *,
        region: str,
        account: str,
        authorizer: Authorizer,
        tokens: TokenValidator,
        repositories: RepositoryCatalog,
        calls: Calls,
        journal: Journal,
        throttle: Throttle | None = None,
    ) -> None:
        self.region = region
        self.account = account
        self.authorizer = authorizer
        self.tokens = tokens
        self.repositories = repositories
        self.calls = calls
        self.journal = journal
        self.throttle = throttle

    def arn(self, repository: str) -> str:
        return f"arn:aws:ecr:{self.region}:{self.account}:repository/{repository}"

    # -- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ: Mapping[str, Any], start_response: Any) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        outcome = _Outcome()
        try:
            answer = self.answer(environ, outcome)
        except ClientGone:
            answer = answers.oci_error(400, "BLOB_UPLOAD_INVALID", "The request body ended early.")
        except UpstreamUnavailable as exc:
            logger.warning("ecr front %s: registry unavailable: %s", self.region, exc)
            answer = answers.oci_error(503, "UNAVAILABLE", "Service unavailable; retry the request.")
        except Exception:
            logger.exception("ecr front %s: %s %s failed", self.region, method, path)
            answer = answers.server_error()
        self._record(method, path, outcome, answer)
        start_response(answer.status_line, answer.headers)
        if answer.stream is None:
            return [] if method == "HEAD" else [answer.body]
        if method == "HEAD":
            getattr(answer.stream, "close", lambda: None)()
            return []
        return answer.stream

    def _record(self, method: str, path: str, outcome: _Outcome, answer: Answer) -> None:
        entry = JournalEntry(
            time=time.time(),
            region=self.region,
            method=method,
            path=path,
            principal=outcome.principal,
            action=outcome.action,
            resource=outcome.resource,
            allowed=outcome.allowed,
            status=answer.status,
            reason=answer.reason,
        )
        self.journal.record(entry)
        if outcome.allowed is False:
            logger.info(
                "ecr front %s: denied %s to %s on %s",
                self.region,
                outcome.action,
                outcome.principal,
                outcome.resource,
            )
        elif answer.status >= 400:
            logger.debug(
                "ecr front %s: %s %s -> %s %s", self.region, method, path, answer.status, answer.reason
            )

    # -- the checks ---------------------------------------------------------------------------

    def answer(self, environ: Mapping[str, Any], outcome: _Outcome) -> Answer:
        method = environ["REQUEST_METHOD"]
        principal = self._authenticate(environ)
        if isinstance(principal, Answer):
            return principal
        outcome.principal = principal
        route = self._route(method, environ.get("PATH_INFO", ""))
        if isinstance(route, Answer):
            return route
        refused = self._authorize(route, method, principal, outcome)
        if refused is not None:
            return refused
        if route.kind is Kind.CATALOG:
            return self.calls.catalog(self.repositories.names(self.region), environ)
        info = self.repositories.describe(self.region, route.repository)
        if info is None:
            return answers.name_unknown(route.repository, self.account)
        return self._call(route, method, environ, info, principal)

    def _authenticate(self, environ: Mapping[str, Any]) -> str | Answer:
        """The principal of the request's token, or ECR's 401 / expired-token 403."""
        token = basic_token(environ.get("HTTP_AUTHORIZATION"))
        principal = self.tokens.principal_for(token) if token is not None else None
        if principal is not None:
            return principal
        if token is not None and self.tokens.is_expired(token):
            return answers.token_expired()
        return answers.not_authorized(f"https://{self.calls.host}/")

    @staticmethod
    def _route(method: str, path: str) -> Route | Answer:
        """The API call of ``path``; an answer for a path or method that is not one."""
        try:
            route = parse(path)
        except BadRoute:
            return answers.oci_error(404, "NAME_UNKNOWN", "The repository name or reference is not valid.")
        if route is None:
            return answers.not_found()
        if route.kind is Kind.BASE:  # needs a valid token only
            return answers.json_answer(200, {}) if method in ("GET", "HEAD") else answers.unsupported()
        return route if route.action(method) is not None else answers.unsupported()

    def _authorize(self, route: Route, method: str, principal: str, outcome: _Outcome) -> Answer | None:
        """None when the principal may make the call now; else 403 DENIED or 429."""
        action = route.action(method)
        assert action is not None
        resource = self.arn(route.repository or "*")
        outcome.action, outcome.resource = action, resource
        decision = self.authorizer.authorize(principal, action, resource, self.region)
        outcome.allowed = decision.allowed
        if not decision.allowed:
            return answers.access_denied(principal, action, resource, decision.reason)
        if self.throttle is not None and (wait := self.throttle.retry_after(action)) is not None:
            return answers.throttled(wait)
        return None

    def _call(
        self, route: Route, method: str, environ: Mapping[str, Any], info: Any, principal: str
    ) -> Answer:
        calls = self.calls
        if route.kind is Kind.MANIFEST and method == "PUT":
            return calls.put_manifest(route, environ, info)
        if route.kind is Kind.BLOB and method == "GET":
            return calls.blob_url(route)
        if route.kind is Kind.UPLOAD_START:
            source = calls.mount_source(environ)
            allowed = source is not None and self._may_mount(principal, source)
            return calls.start_upload(route, environ, mount=allowed)
        if route.kind is Kind.UPLOAD:
            return calls.upload(method, route, environ)
        if route.kind is Kind.TAGS:
            return calls.tags(route, environ)
        return calls.relay(method, route, environ)  # manifest GET/HEAD/DELETE, blob HEAD, referrers

    def _may_mount(self, principal: str, source: str) -> bool:
        """Blob mounting, when enabled, needs the source repository and read access to it."""
        if not self.calls.blob_mounting or self.repositories.describe(self.region, source) is None:
            return False
        return self.authorizer.authorize(
            principal, "ecr:BatchGetImage", self.arn(source), self.region
        ).allowed
