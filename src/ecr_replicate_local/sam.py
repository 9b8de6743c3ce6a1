"""The SAM transform, as CloudFormation applies it before it deploys: ``samtranslator`` turns
``AWS::Serverless::*`` resources into plain CloudFormation, in particular every function's and
state machine's ``Policies:`` (inline statements and policy templates such as
``LambdaInvokePolicy``) into ``AWS::IAM::Role`` resources with inline and managed policies.

The local twin reads the roles from this output, so a function runs with exactly the
permissions the deployed stack would give it. Code locations (``CodeUri``, ``DefinitionUri``)
are local paths here; the translator only accepts S3 URIs, so they are replaced with
placeholders first (the local twin reads the code from the original template).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ecr_replicate.errors import ConfigurationError

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
_PLACEHOLDER = "s3://local-twin/placeholder"
_URIS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::Api": "DefinitionUri",
}


def uses_sam(data: Mapping[str, Any]) -> bool:
    transform = data.get("Transform")
    names = transform if isinstance(transform, list) else [transform]
    return SAM_TRANSFORM in names


def transform(data: Mapping[str, Any], *, region: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The template as CloudFormation deploys it (``data`` itself when it has no SAM transform).

    ``parameters``: the template's parameter values (lists for list types).
    """
    if not uses_sam(data):
        return copy.deepcopy(dict(data))
    import logging  # noqa: PLC0415

    import boto3  # noqa: PLC0415 - the translator reads the region from a session
    from samtranslator.model.exceptions import InvalidDocumentException  # noqa: PLC0415
    from samtranslator.parser.parser import Parser  # noqa: PLC0415
    from samtranslator.translator.translator import Translator  # noqa: PLC0415

    doc = copy.deepcopy(dict(data))
    function_globals = (doc.get("Globals") or {}).get("Function") or {}
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = _PLACEHOLDER
    for resource in (doc.get("Resources") or {}).values():
        key = _URIS.get(str(resource.get("Type")))
        props = resource.get("Properties") or {}
        if key and isinstance(props.get(key), str):
            props[key] = _PLACEHOLDER
    logging.getLogger("samtranslator.metrics").setLevel(logging.ERROR)  # "unpublished metrics"
    values = {k: ",".join(v) if isinstance(v, list) else v for k, v in parameters.items()}
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    try:
        out: dict[str, Any] = translator.translate(doc, parameter_values=values, get_managed_policy_map=dict)
    except InvalidDocumentException as exc:
        problems = "; ".join(str(getattr(e, "message", e)) for e in exc.causes)
        raise ConfigurationError(f"SAM transform failed: {problems}") from None
    return out
