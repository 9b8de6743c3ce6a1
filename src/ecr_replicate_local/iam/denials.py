"""Refusals in the shape each AWS protocol answers them, so SDKs parse them as on AWS.

* JSON services (ECR, Step Functions, EventBridge, KMS, CodeBuild, SQS): HTTP 400,
  ``{"__type": "AccessDeniedException", "message": "User: ... is not authorized ..."}``;
* REST-JSON (Lambda): HTTP 403, ``x-amzn-ErrorType: AccessDeniedException``, ``{"Message": ...}``;
* Query/XML (SNS, IAM, STS): HTTP 403, ``<ErrorResponse><Error><Type>Sender</Type><Code>...``
  (SNS calls its refusal ``AuthorizationError``, the others ``AccessDenied``).

Authentication failures (an access key nobody issued, a wrong signature, an expired session, no
``Authorization`` at all) use each protocol's codes for those.
"""

from __future__ import annotations

import json
import uuid
from enum import Enum
from functools import lru_cache
from xml.sax.saxutils import escape


class Refusal(Enum):
    DENIED = "denied"
    UNKNOWN_KEY = "unknown-key"
    BAD_SIGNATURE = "bad-signature"
    EXPIRED = "expired"
    NO_AUTH = "no-auth"


_JSON_CODES = {
    Refusal.DENIED: "AccessDeniedException",
    Refusal.UNKNOWN_KEY: "UnrecognizedClientException",
    Refusal.BAD_SIGNATURE: "InvalidSignatureException",
    Refusal.EXPIRED: "ExpiredTokenException",
    Refusal.NO_AUTH: "MissingAuthenticationTokenException",
}
_QUERY_CODES = {
    Refusal.DENIED: "AccessDenied",
    Refusal.UNKNOWN_KEY: "InvalidClientTokenId",
    Refusal.BAD_SIGNATURE: "SignatureDoesNotMatch",
    Refusal.EXPIRED: "ExpiredToken",
    Refusal.NO_AUTH: "MissingAuthenticationToken",
}
MESSAGES = {
    Refusal.UNKNOWN_KEY: "The security token included in the request is invalid.",
    Refusal.BAD_SIGNATURE: (
        "The request signature we calculated does not match the signature you provided. Check your AWS "
        "Secret Access Key and signing method. Consult the service documentation for details."
    ),
    Refusal.EXPIRED: "The security token included in the request is expired",
    Refusal.NO_AUTH: "Missing Authentication Token",
}
_XML_NAMESPACES = {
    "sns": "http://sns.amazonaws.com/doc/2010-03-31/",
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}

Response = tuple[int, dict[str, str], str]


@lru_cache(maxsize=64)
def _protocol(boto_service: str) -> tuple[str, str]:
    """(protocol, JSON version) of a botocore service model."""
    import botocore.session  # noqa: PLC0415

    model = botocore.session.get_session().get_service_model(boto_service)
    return str(model.protocol), str(model.metadata.get("jsonVersion", "1.1"))


def refusal_response(boto_service: str, refusal: Refusal, message: str = "") -> Response:
    """The HTTP answer (status, headers, body) of ``boto_service`` refusing a request."""
    text = message or MESSAGES[refusal]
    request_id = str(uuid.uuid4())
    protocol, json_version = _protocol(boto_service)
    if protocol == "json":
        code = _JSON_CODES[refusal]
        headers = {
            "content-type": f"application/x-amz-json-{json_version}",
            "x-amzn-requestid": request_id,
            "x-amzn-errortype": code,
        }
        return 400, headers, json.dumps({"__type": code, "message": text})
    if protocol == "rest-json":
        code = _JSON_CODES[refusal]
        headers = {
            "content-type": "application/json",
            "x-amzn-requestid": request_id,
            "x-amzn-errortype": code,
        }
        return 403, headers, json.dumps({"Type": "User", "Message": text})
    code = _QUERY_CODES[refusal]
    if refusal is Refusal.DENIED and boto_service == "sns":
        code = "AuthorizationError"
    namespace = _XML_NAMESPACES.get(boto_service, f"https://{boto_service}.amazonaws.com/")
    body = (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(text)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return 403, {"content-type": "text/xml", "x-amzn-requestid": request_id}, body
