"""IAM on moto's request path: every control-plane request is authenticated and authorised.

For each HTTP request the moto server receives (:meth:`Enforcer.check`, called before moto
runs the action; S3 through :meth:`Enforcer.check_s3`):

1. **authentication**, as AWS does it: a SigV4 ``Authorization`` header is required; its access
   key must be one the twin issued (:mod:`ecr_replicate_local.iam.identities`), with the
   matching ``X-Amz-Security-Token`` for a role session, not expired, and the signature must
   verify with that key's secret;
2. **authorisation**: the API call's IAM action(s) and resource ARN(s)
   (:mod:`ecr_replicate_local.iam.requests`) are evaluated against the caller's
   identity-based policies as IAM holds them now (:mod:`ecr_replicate_local.iam.policy`), with
   the request context ``aws:RequestedRegion`` (the region the request was signed for),
   ``aws:PrincipalArn``, ``aws:PrincipalAccount``, ``aws:PrincipalType``, ``aws:userid`` and
   ``aws:SecureTransport``.

A refusal is answered in the service's own error shape (:mod:`ecr_replicate_local.iam.denials`).
Every decision that denied is kept (:attr:`Enforcer.denials`) for tests and for the demo to explain
a failed run, and every (principal, action) that was allowed is counted (:attr:`Enforcer.granted`):
the mutation check compares what the running code used with what it takes away.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from ecr_replicate_local.iam.denials import Refusal, Response, _protocol, refusal_response
from ecr_replicate_local.iam.identities import Caller, Identities
from ecr_replicate_local.iam.policy import Decision, Request, evaluate
from ecr_replicate_local.iam.requests import permissions, s3_action

logger = logging.getLogger(__name__)

_SCHEME = "AWS4-HMAC-SHA256 "
_KEPT_DENIALS = 200


@dataclass(frozen=True)
class Signed:
    """The parts of a SigV4 ``Authorization`` header."""

    access_key_id: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @classmethod
    def parse(cls, header: str) -> Signed | None:
        if not header.startswith(_SCHEME):
            return None
        fields = dict(part.strip().split("=", 1) for part in header[len(_SCHEME) :].split(",") if "=" in part)
        scope = fields.get("Credential", "").split("/")
        if len(scope) != 5 or not fields.get("Signature"):
            return None
        return cls(
            scope[0],
            scope[2],
            scope[3],
            tuple(fields.get("SignedHeaders", "").split(";")),
            fields["Signature"],
        )


def condition_context(caller: Caller, region: str) -> dict[str, str]:
    """The global condition keys of a request by ``caller`` signed for ``region``."""
    return {
        "aws:requestedregion": region,
        "aws:principalarn": caller.role_arn or caller.principal,
        "aws:principalaccount": caller.account,
        "aws:principaltype": caller.kind,
        "aws:userid": caller.name,
        # boto3 on AWS always speaks TLS; the local control plane is plain HTTP on loopback only
        "aws:securetransport": "true",
    }


class Enforcer:
    """Authenticates and authorises requests to the local control planes."""

    def __init__(self, identities: Identities) -> None:
        self.identities = identities
        self.denials: deque[Decision] = deque(maxlen=_KEPT_DENIALS)
        self.granted: Counter[tuple[str, str]] = Counter()  # (role or user name, action) -> calls
        self._lock = threading.Lock()

    # --- moto's request path ------------------------------------------------------------------

    def check(self, response: Any) -> Response | None:
        """None if moto may run the request; else the refusal to send instead."""
        service = str(response.boto3_service_name)
        caller, signed, refusal = self._authenticate(response, s3=False)
        if refusal is not None or caller is None or signed is None:
            return refusal_response(service, refusal or Refusal.NO_AUTH)
        action = str(response._get_action())
        if signed.service == "sts" and action == "GetCallerIdentity":
            return None  # IAM never refuses it, not even with an explicit deny
        params = _params(response, service)
        checks = permissions(signed.service, action, params, region=signed.region, account=caller.account)
        for iam_action, resource in checks:
            display = f"SNS:{iam_action.split(':', 1)[1]}" if iam_action.startswith("sns:") else iam_action
            decision = self.authorize(caller, display, resource, signed.region)
            if not decision.allowed:
                return refusal_response(service, Refusal.DENIED, decision.message())
        return None

    def check_s3(self, response: Any, bucket: str | None, key: str | None) -> Response | None:
        """The same for an S3 REST request on ``bucket``/``key`` (S3 has its own request path)."""
        caller, signed, refusal = self._authenticate(response, s3=True)
        if refusal is not None or caller is None or signed is None:
            return _s3_error(refusal or Refusal.NO_AUTH, "")
        resource = f"arn:aws:s3:::{bucket or '*'}" + (f"/{key}" if key else "")
        query = {k: v for k, v in (response.querystring or {}).items()}
        action = s3_action(str(response.method), key, query)
        decision = self.authorize(caller, action, resource, signed.region)
        if not decision.allowed:
            return _s3_error(Refusal.DENIED, decision.message().replace(resource, f'"{resource}"', 1))
        return None

    def caller_of(self, response: Any) -> tuple[Caller, str] | None:
        """(caller, the region the request was signed for) of an authenticated request."""
        signed = Signed.parse(str(response.headers.get("Authorization") or ""))
        caller = self.identities.caller(signed.access_key_id) if signed is not None else None
        return None if caller is None or signed is None else (caller, signed.region)

    # --- the two steps ----------------------------------------------------------------------------

    def authorize(self, caller: Caller, action: str, resource: str, region: str) -> Decision:
        """Evaluate ``caller``'s policies for one action on one resource in ``region``."""
        request = Request(caller.principal, action, resource, condition_context(caller, region))
        decision = evaluate(self.identities.policies(caller), request)
        with self._lock:
            if decision.allowed:
                self.granted[(caller.name, action.lower())] += 1
            else:
                self.denials.append(decision)
        if not decision.allowed:
            logger.info("denied: %s", decision.message())
        return decision

    def _authenticate(
        self, response: Any, *, s3: bool
    ) -> tuple[Caller | None, Signed | None, Refusal | None]:
        headers = response.headers
        signed = Signed.parse(str(headers.get("Authorization") or ""))
        if signed is None:
            return None, None, Refusal.NO_AUTH if not headers.get("Authorization") else Refusal.UNKNOWN_KEY
        caller = self.identities.caller(signed.access_key_id)
        if caller is None:
            return None, signed, Refusal.UNKNOWN_KEY
        if caller.session_token is not None and headers.get("X-Amz-Security-Token") != caller.session_token:
            return None, signed, Refusal.UNKNOWN_KEY
        if caller.expired():
            return None, signed, Refusal.EXPIRED
        if not _signature_matches(response, signed, caller.secret_access_key, s3=s3):
            return None, signed, Refusal.BAD_SIGNATURE
        return caller, signed, None


def _signature_matches(response: Any, signed: Signed, secret: str, *, s3: bool) -> bool:
    """Recompute the SigV4 signature of the request as received (botocore's own signer)."""
    headers = {k: v for k, v in response.headers.items() if k.lower() in signed.signed_headers}
    path = str(response.raw_path)
    query = urlparse(str(response.uri)).query
    if query:
        path += "?" + query
    request = AWSRequest(
        method=response.method, url=path, data=response.raw_body or response.data, headers=headers
    )
    request.context["timestamp"] = headers.get("X-Amz-Date") or headers.get("x-amz-date")
    signer_class = S3SigV4Auth if s3 else SigV4Auth
    signer = signer_class(BotoCredentials(signed.access_key_id, secret), signed.service, signed.region)
    try:
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
    except Exception:  # a request botocore cannot even canonicalise is not signed correctly
        logger.debug("cannot canonicalise %s %s", response.method, path, exc_info=True)
        return False
    return bool(expected == signed.signature)


def _params(response: Any, service: str) -> dict[str, Any]:
    """The request's parameters by their API names, whatever the protocol carries them in."""
    params: dict[str, Any] = {}
    for name, values in (response.querystring or {}).items():
        if isinstance(values, list) and values:
            params[str(name)] = values[0]
    protocol = _protocol(service)[0]
    if protocol in ("json", "rest-json") and response.body:
        try:
            body = json.loads(response.body)
        except (ValueError, TypeError):
            body = None
        if isinstance(body, Mapping):
            params.update(body)
    params.update(getattr(response, "uri_match", None) or {})
    return params


def _s3_error(refusal: Refusal, message: str) -> Response:
    codes = {
        Refusal.DENIED: (403, "AccessDenied", message),
        Refusal.UNKNOWN_KEY: (
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        ),
        Refusal.BAD_SIGNATURE: (
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        ),
        Refusal.EXPIRED: (400, "ExpiredToken", "The provided token has expired."),
        Refusal.NO_AUTH: (403, "AccessDenied", "Access Denied"),
    }
    status, code, text = codes[refusal]
    from xml.sax.saxutils import escape  # noqa: PLC0415

    body = f"<Error><Code>{code}</Code><Message>{escape(text)}</Message></Error>"
    body = '<?xml version="1.0" encoding="UTF-8"?>\n' + body
    return status, {"content-type": "application/xml"}, body
