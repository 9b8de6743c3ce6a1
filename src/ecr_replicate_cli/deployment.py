"""Which deployment the operator commands (``replicate``, ``backfill``, ``verify``,
``reconcile``, ``dead-letters``) act on.

Two sources, one :class:`Deployment`:

* ``--stack NAME``: the CloudFormation stack's outputs (``StateMachineArn``,
  ``BackfillStateMachineArn``, ``BackfillItemsBucketName``, ``ReconcileStateMachineArn``,
  ``*DeadLetterQueueUrl``) and
  parameters (``TargetRegions`` and the include/exclude filters); the source region is the
  stack's region, registries are ECR's.
* otherwise the environment, as ``ecr-replicate local up`` prints it: boto3's
  ``AWS_ENDPOINT_URL``/``AWS_REGION``, :data:`ENV_REPLICATE_ARN`, :data:`ENV_BACKFILL_ARN`,
  :data:`ENV_BACKFILL_BUCKET`, :data:`ENV_RECONCILE_ARN`, :data:`ENV_DEAD_LETTER_QUEUES`,
  :data:`ENV_PROGRESS_BUCKET`, and the same
  ``TARGET_REGIONS``/``REGISTRY_ENDPOINTS`` the handlers read
  (:class:`ecr_replicate.config.Settings`). Nothing here branches on "local".
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ecr_replicate.config import Settings
from ecr_replicate.errors import ConfigurationError, InvalidInputError
from ecr_replicate.workflow import restrict_to_targets

ENV_REPLICATE_ARN = "ECR_REPLICATE_STATE_MACHINE_ARN"
ENV_BACKFILL_ARN = "ECR_REPLICATE_BACKFILL_STATE_MACHINE_ARN"
ENV_BACKFILL_BUCKET = "ECR_REPLICATE_BACKFILL_BUCKET"
ENV_RECONCILE_ARN = "ECR_REPLICATE_RECONCILE_STATE_MACHINE_ARN"
ENV_DEAD_LETTER_QUEUES = "ECR_REPLICATE_DEAD_LETTER_QUEUES"  # comma-separated queue URLs
ENV_PROGRESS_BUCKET = "ECR_REPLICATE_PROGRESS_BUCKET"  # the copy heartbeats (status shows bytes)
PROGRESS_BUCKET_OUTPUT = "ProgressBucketName"
DEAD_LETTER_OUTPUT_SUFFIX = "DeadLetterQueueUrl"
#: template parameter -> the environment variable Settings reads
PARAMETER_ENV = {
    "TargetRegions": "TARGET_REGIONS",
    "RepositoryInclude": "REPOSITORY_INCLUDE",
    "RepositoryExclude": "REPOSITORY_EXCLUDE",
    "TagInclude": "TAG_INCLUDE",
    "TagExclude": "TAG_EXCLUDE",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stack`` and ``--aws-region`` (``args.stack``, ``args.stack_region``), what :func:`resolve`
    takes."""
    parser.add_argument("--stack", help="CloudFormation stack of the deployment (default: the environment)")
    parser.add_argument("--aws-region", dest="stack_region", help="region of --stack (default: boto3's)")


@dataclass(frozen=True)
class Deployment:
    settings: Settings  # source region, target regions, registry host per region, filters
    replicate_arn: str
    backfill_arn: str | None = None
    items_bucket: str | None = None
    dead_letter_queues: tuple[str, ...] = ()  # the trigger rules' DLQ URLs
    reconcile_arn: str | None = None
    progress_bucket: str | None = None  # the copy heartbeats (ecr_replicate.heartbeat)

    @property
    def source_region(self) -> str:
        return self.settings.source_region

    @property
    def target_regions(self) -> tuple[str, ...]:
        return self.settings.target_regions

    def registry(self, region: str) -> str:
        return self.settings.registry_host(region)

    def client(self, service: str, region: str | None = None) -> Any:
        """A boto3 client (boto3 honours ``AWS_ENDPOINT_URL`` itself)."""
        import boto3  # noqa: PLC0415 - keep --help fast

        return boto3.client(service, region_name=region or self.source_region)  # type: ignore[call-overload]

    def credentials(self) -> Any:
        """Registry credentials: ECR tokens for ECR hosts and the configured endpoints."""
        from ecr_replicate.credentials import for_deployment  # noqa: PLC0415
        from ecr_replicate.ecr import client_factory  # noqa: PLC0415

        return for_deployment(self.settings, client_factory("ecr"))

    def progress_reader(self) -> Any:
        """Reads the copy heartbeats for status views; None without a progress bucket."""
        from ecr_replicate_cli.heartbeats import HeartbeatReader  # noqa: PLC0415

        return HeartbeatReader(self.progress_bucket, self.source_region) if self.progress_bucket else None

    def regions(self, wanted: list[str] | None) -> tuple[str, ...]:
        """The target regions, restricted to ``wanted`` (each must be a target)."""
        return restrict_to_targets(self.target_regions, wanted or None)


def _arn_parts(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    if len(parts) < 7 or parts[0] != "arn":
        raise InvalidInputError(f"not a state machine ARN: {arn[:120]!r}")
    return parts[3], parts[4]


def from_environment(environ: Mapping[str, str] | None = None) -> Deployment:
    env = os.environ if environ is None else environ
    replicate = env.get(ENV_REPLICATE_ARN, "").strip()
    if not replicate:
        raise InvalidInputError(
            f"no deployment: pass --stack NAME, or export what `ecr-replicate local up` prints "
            f"({ENV_REPLICATE_ARN} and the rest)"
        )
    try:
        settings = Settings.from_env(env)
    except ConfigurationError as exc:
        raise InvalidInputError(f"deployment environment: {exc}") from None
    return Deployment(
        settings=settings,
        replicate_arn=replicate,
        backfill_arn=env.get(ENV_BACKFILL_ARN, "").strip() or None,
        items_bucket=env.get(ENV_BACKFILL_BUCKET, "").strip() or None,
        reconcile_arn=env.get(ENV_RECONCILE_ARN, "").strip() or None,
        dead_letter_queues=tuple(
            u.strip() for u in env.get(ENV_DEAD_LETTER_QUEUES, "").split(",") if u.strip()
        ),
        progress_bucket=env.get(ENV_PROGRESS_BUCKET, "").strip() or None,
    )


def describe_stack(cfn: Any, stack: str) -> dict[str, Any]:
    """The stack as ``DescribeStacks`` answers; a missing stack is a clear error."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        stacks = cfn.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        raise InvalidInputError(f"stack {stack!r}: {exc.response['Error'].get('Message', exc)}") from None
    if not stacks:
        raise InvalidInputError(f"stack {stack!r} not found")
    return dict(stacks[0])


def stack_outputs(described: dict[str, Any]) -> dict[str, str]:
    return {str(o.get("OutputKey", "")): str(o.get("OutputValue", "")) for o in described.get("Outputs", [])}


def from_stack(cfn: Any, stack: str) -> Deployment:
    described = describe_stack(cfn, stack)
    outputs = stack_outputs(described)
    parameters = {
        str(p["ParameterKey"]): str(p.get("ResolvedValue") or p.get("ParameterValue") or "")
        for p in described.get("Parameters", [])
    }
    replicate = outputs.get("StateMachineArn")
    if not replicate:
        raise InvalidInputError(
            f"stack {stack!r} has no StateMachineArn output: is it an ecr-replicate stack?"
        )
    region, account = _arn_parts(replicate)
    env = {"AWS_REGION": region, "ACCOUNT_ID": account}
    env.update({var: parameters[name] for name, var in PARAMETER_ENV.items() if name in parameters})
    try:
        settings = Settings.from_env(env)
    except ConfigurationError as exc:
        raise InvalidInputError(f"stack {stack!r}: {exc}") from None
    return Deployment(
        settings=settings,
        replicate_arn=replicate,
        backfill_arn=outputs.get("BackfillStateMachineArn"),
        items_bucket=outputs.get("BackfillItemsBucketName"),
        reconcile_arn=outputs.get("ReconcileStateMachineArn"),
        dead_letter_queues=tuple(
            v for k, v in sorted(outputs.items()) if k.endswith(DEAD_LETTER_OUTPUT_SUFFIX)
        ),
        progress_bucket=outputs.get(PROGRESS_BUCKET_OUTPUT),
    )


def resolve(
    stack: str | None, region: str | None = None, *, cfn_factory: Callable[[str | None], Any] | None = None
) -> Deployment:
    """``--stack NAME`` (``--region`` = the stack's region) or the environment."""
    if stack:
        if cfn_factory is None:
            import boto3  # noqa: PLC0415

            def cfn_factory(r: str | None) -> Any:
                return boto3.client("cloudformation", region_name=r)  # type: ignore[call-overload]

        return from_stack(cfn_factory(region), stack)
    return from_environment()
