"""The environments the local AWS hands out: to its functions and builds, and to an operator.

Functions get the local endpoint, the registries (``REGISTRY_ENDPOINTS``) and how to trust them
(the fronts' CA, or plain http to bare registries), Powertools settings for a machine without
X-Ray or CloudWatch, and the run's overrides. An operator's process gets boto3's variables and
what the operator commands read instead of a stack's outputs (``ecr_replicate_cli.deployment``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecr_replicate.config import endpoints_json
from ecr_replicate_cli import deployment

if TYPE_CHECKING:
    from ecr_replicate_local.local_aws import LocalAws


def function_environment(aws: LocalAws) -> dict[str, str]:
    """What the twin adds to every function's (and build's) environment."""
    env = {
        "AWS_ENDPOINT_URL": aws.endpoint_url,
        "AWS_REGION": aws.source_region,
        "AWS_DEFAULT_REGION": aws.source_region,
        "REGISTRY_ENDPOINTS": endpoints_json(aws.regions),
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        "POWERTOOLS_METRICS_DISABLED": "true",  # no CloudWatch to read EMF lines
        # on stderr, warnings and errors only; in a log file (local demo|up), everything
        "POWERTOOLS_LOG_LEVEL": "WARNING" if aws.log is None else "INFO",
    }
    env.update(registry_transport(aws))
    env.update(aws.function_overrides)
    return env


def registry_transport(aws: LocalAws) -> dict[str, str]:
    """How our processes reach the registries: the fronts' CA, or plain http to bare
    registries (a local AWS started without fronts, e.g. for the twin's own tests)."""
    if aws.registry_ca_file is not None:
        return {"REGISTRY_CA_FILE": str(aws.registry_ca_file)}
    return {"REGISTRY_PLAIN_HTTP": "true"}


def operator_environment(aws: LocalAws) -> dict[str, str]:
    """The environment an operator's process needs to talk to this local AWS.

    Besides boto3's variables, what the operator commands (``replicate``, ``backfill``,
    ``verify``) read instead of a stack's outputs: see ``ecr_replicate_cli.deployment``.
    """
    env = {
        "AWS_ENDPOINT_URL": aws.endpoint_url,
        "AWS_REGION": aws.source_region,
        "AWS_DEFAULT_REGION": aws.source_region,
        **aws.identities.operator().environment(),
    }
    if aws.state_machine_arn:
        env.update(_deployment_environment(aws))
    return env


def _deployment_environment(aws: LocalAws) -> dict[str, str]:
    targets = aws.parameters.get("TargetRegions") or ",".join(
        region for region in aws.regions if region != aws.source_region
    )
    env = {
        deployment.ENV_REPLICATE_ARN: aws.state_machine_arn,
        "TARGET_REGIONS": targets,
        "REGISTRY_ENDPOINTS": endpoints_json(aws.regions),
        **registry_transport(aws),
    }
    backfill = aws.state_machine_arns.get("BackfillStateMachine")
    if backfill:
        env[deployment.ENV_BACKFILL_ARN] = backfill
    reconcile = aws.state_machine_arns.get("ReconcileStateMachine")
    if reconcile:
        env[deployment.ENV_RECONCILE_ARN] = reconcile
    buckets = aws.stack.buckets if aws.stack else {}
    if buckets.get("BackfillItemsBucket"):
        env[deployment.ENV_BACKFILL_BUCKET] = buckets["BackfillItemsBucket"]
    if buckets.get("ProgressBucket"):  # the copy heartbeats status shows
        env[deployment.ENV_PROGRESS_BUCKET] = buckets["ProgressBucket"]
    rules = sorted({t.rule for t in aws.stack.rule_targets}) if aws.stack else []
    dead_letters = [url for url in map(aws.dead_letter_queue, rules) if url]
    if dead_letters:
        env[deployment.ENV_DEAD_LETTER_QUEUES] = ",".join(dead_letters)
    for name, var in deployment.PARAMETER_ENV.items():
        if name != "TargetRegions" and aws.parameters.get(name):
            env[var] = aws.parameters[name]
    return env
