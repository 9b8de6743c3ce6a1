"""What a control-plane request asks IAM for: the action(s) and the resource ARN(s) AWS checks.

One API call can need more than one permission (``CreateStateMachine`` also needs
``iam:PassRole`` on its role; ``DescribeRepositories`` of three names checks each repository;
``PutEvents`` checks each event bus). :func:`permissions` returns all of them, in the order AWS
would check them. Resource ARNs follow each service's *Service Authorization Reference*; calls
not listed here check ``*`` (the operator is allowed everything, and no role of the stack makes
them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Where:
    region: str
    account: str

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:aws:{service}:{self.region if region else ''}:{self.account if account else ''}:{resource}"
        )


Permission = tuple[str, str]  # (IAM action, resource ARN)


def _ecr(action: str, p: Params, w: Where) -> list[Permission]:
    registry = str(p.get("registryId") or w.account)
    target = Where(w.region, registry)
    if "repositoryName" in p:
        return [(f"ecr:{action}", target.arn("ecr", f"repository/{p['repositoryName']}"))]
    if action == "DescribeRepositories":
        names = p.get("repositoryNames") or []
        if names:
            return [(f"ecr:{action}", target.arn("ecr", f"repository/{n}")) for n in names]
        return [(f"ecr:{action}", target.arn("ecr", "repository/*"))]
    if "resourceArn" in p:
        return [(f"ecr:{action}", str(p["resourceArn"]))]
    return [(f"ecr:{action}", "*")]


def _lambda_arn(name: str, qualifier: str | None, w: Where) -> str:
    if name.startswith("arn:"):
        arn = name
    elif ":function:" in f":{name}":  # "123456789012:function:name[:qualifier]"
        arn = f"arn:aws:lambda:{w.region}:{name}"
    else:
        arn = w.arn("lambda", f"function:{name}")
    if qualifier and arn.count(":") == 6:
        arn = f"{arn}:{qualifier}"
    return arn


_LAMBDA_ACTIONS = {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction"}


def _lambda(action: str, p: Params, w: Where) -> list[Permission]:
    iam_action = f"lambda:{_LAMBDA_ACTIONS.get(action, action)}"
    name = p.get("FunctionName") or p.get("function_name")
    found: list[Permission] = []
    if name:
        found.append((iam_action, _lambda_arn(str(name), p.get("Qualifier"), w)))
    else:
        found.append((iam_action, "*"))
    if action in ("CreateFunction", "UpdateFunctionConfiguration") and p.get("Role"):
        found.append(("iam:PassRole", str(p["Role"])))
    return found


def _states(action: str, p: Params, w: Where) -> list[Permission]:
    for key in ("stateMachineArn", "executionArn", "mapRunArn", "resourceArn", "activityArn"):
        if key in p:
            return [(f"states:{action}", str(p[key]))]
    if action == "CreateStateMachine":
        found = [(f"states:{action}", w.arn("states", f"stateMachine:{p.get('name', '')}"))]
        if p.get("roleArn"):
            found.append(("iam:PassRole", str(p["roleArn"])))
        return found
    return [(f"states:{action}", "*")]


def _sns(action: str, p: Params, w: Where) -> list[Permission]:
    iam_action = f"sns:{action}"
    if action == "CreateTopic":
        return [(iam_action, w.arn("sns", str(p.get("Name", ""))))]
    for key in ("TopicArn", "TargetArn", "ResourceArn"):
        if p.get(key):
            return [(iam_action, str(p[key]))]
    if p.get("SubscriptionArn"):
        return [(iam_action, str(p["SubscriptionArn"]).rsplit(":", 1)[0])]
    return [(iam_action, "*")]


def _events(action: str, p: Params, w: Where) -> list[Permission]:
    iam_action = f"events:{action}"

    def bus_arn(name: Any) -> str:
        text = str(name or "default")
        return text if text.startswith("arn:") else w.arn("events", f"event-bus/{text}")

    if action == "PutEvents":
        buses = {bus_arn(e.get("EventBusName")) for e in p.get("Entries") or [] if isinstance(e, Mapping)}
        return [(iam_action, arn) for arn in sorted(buses)] or [(iam_action, bus_arn(None))]
    rule = p.get("Rule") if "Rule" in p else p.get("Name") if "Rule" in action else None
    if rule:
        bus = str(p.get("EventBusName") or "default")
        path = f"rule/{rule}" if bus == "default" else f"rule/{bus.rsplit('/', 1)[-1]}/{rule}"
        return [(iam_action, w.arn("events", path))]
    if "EventBus" in action and p.get("Name"):
        return [(iam_action, bus_arn(p["Name"]))]
    return [(iam_action, "*")]


def _sqs(action: str, p: Params, w: Where) -> list[Permission]:
    iam_action = f"sqs:{action}"
    url = p.get("QueueUrl")
    if url:
        parts = str(url).rstrip("/").split("/")
        account = parts[-2] if len(parts) >= 2 and parts[-2].isdigit() else w.account
        return [(iam_action, f"arn:aws:sqs:{w.region}:{account}:{parts[-1]}")]
    if p.get("QueueName"):
        return [(iam_action, w.arn("sqs", str(p["QueueName"])))]
    return [(iam_action, "*")]


def _kms(action: str, p: Params, w: Where) -> list[Permission]:
    key = p.get("KeyId") or p.get("TargetKeyId")
    if not key:
        return [(f"kms:{action}", "*")]
    text = str(key)
    if text.startswith("arn:"):
        return [(f"kms:{action}", text)]
    if text.startswith("alias/"):
        return [(f"kms:{action}", _kms_key_of_alias(text, w))]
    return [(f"kms:{action}", w.arn("kms", f"key/{text}"))]


def _kms_key_of_alias(alias: str, w: Where) -> str:
    """KMS authorises a request by alias against the key it names (the alias ARN if unknown)."""
    from moto.kms.models import kms_backends  # noqa: PLC0415

    try:
        key_id = kms_backends[w.account][w.region].get_key_id_from_alias(alias)
    except Exception:
        key_id = None
    return w.arn("kms", f"key/{key_id}") if key_id else w.arn("kms", alias)


def _codebuild(action: str, p: Params, w: Where) -> list[Permission]:
    iam_action = f"codebuild:{action}"
    projects = [p["projectName"]] if p.get("projectName") else list(p.get("names") or [])
    projects += [str(i).split(":", 1)[0] for i in p.get("ids") or []]
    if p.get("id"):
        projects.append(str(p["id"]).split(":", 1)[0])
    if not projects:
        return [(iam_action, "*")]
    return [(iam_action, w.arn("codebuild", f"project/{name}")) for name in dict.fromkeys(projects)]


def _iam(action: str, p: Params, w: Where) -> list[Permission]:
    iam_action = f"iam:{action}"
    if p.get("RoleName"):
        return [(iam_action, f"arn:aws:iam::{w.account}:role/{p['RoleName']}")]
    if p.get("UserName"):
        return [(iam_action, f"arn:aws:iam::{w.account}:user/{p['UserName']}")]
    return [(iam_action, "*")]


_SERVICES: dict[str, Callable[[str, Params, Where], list[Permission]]] = {
    "ecr": _ecr,
    "lambda": _lambda,
    "states": _states,
    "sns": _sns,
    "events": _events,
    "sqs": _sqs,
    "kms": _kms,
    "codebuild": _codebuild,
    "iam": _iam,
}


def permissions(prefix: str, action: str, params: Params, *, region: str, account: str) -> list[Permission]:
    """The (action, resource) pairs IAM checks for API ``action`` of the service signed as ``prefix``."""
    mapper = _SERVICES.get(prefix)
    if mapper is None:
        return [(f"{prefix}:{action}", "*")]
    return mapper(action, params, Where(region, account))


_LIST_PARAMETERS = frozenset(
    {
        "list-type",
        "prefix",
        "delimiter",
        "max-keys",
        "continuation-token",
        "encoding-type",
        "start-after",
        "marker",
    }
)


def s3_action(method: str, key: str | None, query: Mapping[str, Any]) -> str:
    """The IAM action of an S3 REST request: object reads and writes, listing, bucket settings
    (``?policy`` -> ``s3:GetBucketPolicy``/``s3:PutBucketPolicy`` ...)."""
    if key:
        verbs = {"GET": "GetObject", "HEAD": "GetObject", "PUT": "PutObject", "POST": "PutObject"}
        return f"s3:{verbs.get(method, 'DeleteObject')}"
    settings = sorted(set(query) - _LIST_PARAMETERS)
    if settings:
        verb = "Get" if method in ("GET", "HEAD") else "Delete" if method == "DELETE" else "Put"
        return f"s3:{verb}Bucket{settings[0].capitalize()}"
    return {"PUT": "s3:CreateBucket", "DELETE": "s3:DeleteBucket"}.get(method, "s3:ListBucket")
