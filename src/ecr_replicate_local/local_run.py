"""What ``ecr-replicate local demo|up`` runs, decided from the command line before anything starts:
the regions, the template and its parameters in force (:mod:`ecr_replicate_local.parameters`).

:meth:`LocalRun.from_args` is the whole of the commands' setup, so tests drive exactly what the
commands run (the same parsing, the same :class:`~ecr_replicate_local.environment.LocalEnvironment`)
without a terminal.

Regions and ``TargetRegions``: the local regions are the stack's regions. ``--regions SRC,T1,T2``
gives both; then a ``TargetRegions`` override must name the same targets (an error says so
otherwise). Without ``--regions``, a ``TargetRegions`` override picks the targets (the source stays
the default, us-east-1). ``--runtime X`` is a shorthand for ``--parameter-overrides CopyRuntime=X``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from ecr_replicate.config import Settings
from ecr_replicate.errors import ConfigurationError
from ecr_replicate_local import parameters
from ecr_replicate_local.environment import LocalEnvironment
from ecr_replicate_local.local_aws import DEFAULT_TEMPLATE, MOTO_ACCOUNT
from ecr_replicate_local.parameters import ParametersInForce
from ecr_replicate_local.regions import DEFAULT_SOURCE_REGION, check_data_dir, parse_regions
from ecr_replicate_local.schedules import check_expression
from ecr_replicate_local.stack_spec import env_str
from ecr_replicate_local.template import Template, load_template

TARGET_REGIONS, COPY_RUNTIME = "TargetRegions", "CopyRuntime"
FROM_REGIONS, FROM_RUNTIME = "from --regions", "from --runtime"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that decide a local run's stack (``--regions`` and ``--data`` stay the command's)."""
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="template parameters, as for sam deploy: KEY=VALUE ... (or ParameterKey=K,ParameterValue=V); "
        "checked against template.yaml's Parameters",
    )
    parser.add_argument(
        "--runtime",
        choices=("auto", "lambda", "codebuild"),
        help="shorthand for --parameter-overrides CopyRuntime=RUNTIME (default: the template's, auto)",
    )
    parser.add_argument(
        "--template",
        type=Path,
        metavar="FILE",
        help="the SAM template to run (default: the repository's template.yaml)",
    )


@dataclass(frozen=True)
class LocalRun:
    """The regions, template and parameters of one local run."""

    source: str
    targets: list[str]
    template: Path
    parameters: ParametersInForce
    data: Path | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> LocalRun:
        """The run ``args`` ask for; bad regions or parameters are an InvalidInputError or a
        ConfigurationError with a one-line message, before anything is started."""
        template = Path(args.template) if getattr(args, "template", None) else DEFAULT_TEMPLATE
        overrides = parameters.parse_overrides(getattr(args, "parameter_overrides", None) or [])
        origins: dict[str, tuple[str, str]] = {}
        runtime = getattr(args, "runtime", None)
        if runtime is not None:
            given = overrides.pop(COPY_RUNTIME, runtime)
            if given != runtime:
                raise ConfigurationError(
                    f"--runtime {runtime} and --parameter-overrides {COPY_RUNTIME}={given} disagree: give one"
                )
            origins[COPY_RUNTIME] = (runtime, FROM_RUNTIME)
        specs = parameters.declared(load_template(template))
        target_regions = (
            overrides.pop(TARGET_REGIONS) if TARGET_REGIONS in specs and TARGET_REGIONS in overrides else None
        )
        if target_regions is not None:
            specs[TARGET_REGIONS].check(target_regions)
        source, targets, regions_origin = _regions(getattr(args, "regions", None), target_regions)
        origins[TARGET_REGIONS] = (",".join(targets), regions_origin)
        in_force = parameters.in_force(specs, overrides, origins)
        run = cls(source, targets, template, in_force, getattr(args, "data", None))
        if run.data is not None:
            check_data_dir(run.data)
        run.check_before_start()
        return run

    def environment(self, **options: Any) -> LocalEnvironment:
        """The run's :class:`LocalEnvironment` (not started); ``options`` go to it as they are."""
        return LocalEnvironment(
            self.source,
            self.targets,
            data_dir=self.data,
            template=self.template,
            parameters=self.parameters.overrides,
            **options,
        )

    def check_before_start(self) -> None:
        """Values CloudFormation's own checks allow but that would fail once deployed, refused
        now: the functions' environment (Globals', resolved with these parameters) must be a
        configuration they accept (``LambdaMaxImageBytes=1.5`` is a Number, and every run would
        refuse it), and each schedule's expression one EventBridge Scheduler accepts
        (``ReconcileSchedule=rate(0 days)`` matches the template's pattern; the stack would roll
        back)."""
        tpl = Template(
            self.template, region=self.source, account=MOTO_ACCOUNT, parameters=self.parameters.overrides
        )
        variables = (((tpl.data.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get(
            "Variables"
        ) or {}
        resolved = {name: env_str(value) for name, value in tpl.resolve(variables).items()}
        if "TARGET_REGIONS" in resolved:  # this project's functions (not a test template's)
            try:
                Settings.from_env({**resolved, "AWS_REGION": self.source})
            except ConfigurationError as exc:  # its message starts with the variable's name
                self._refused(
                    variables.get(str(exc).split(" ", 1)[0]),
                    "CloudFormation would accept it, but the functions refuse it (every run would fail): ",
                    exc,
                )
        for lid, res in tpl.resources_of_type("AWS::Scheduler::Schedule").items():
            expression = (res.get("Properties") or {}).get("ScheduleExpression")
            try:
                check_expression(lid, str(tpl.resolve(expression)))
            except ConfigurationError as exc:
                self._refused(expression, "", exc)

    def _refused(self, source: Any, why: str, exc: ConfigurationError) -> NoReturn:
        """Raise ``exc`` naming the parameter ``source`` (a template value) refers to, if any."""
        name = str(source["Ref"]) if isinstance(source, dict) and list(source) == ["Ref"] else ""
        if name not in self.parameters.values:
            raise exc
        raise ConfigurationError(f"parameter {name}={self.parameters.values[name]!r}: {why}{exc}") from None

    def parameter_lines(self) -> list[str]:
        """The parameters in force, for the commands to print."""
        return [
            f"Template parameters ({self.template.name}):",
            *(f"  {line}" for line in self.parameters.lines()),
        ]


def _regions(text: str | None, target_regions: str | None) -> tuple[str, list[str], str]:
    """(source, targets, where TargetRegions comes from)."""
    if text is not None:
        source, targets = parse_regions(text)
        if target_regions is not None and not parameters.same_regions(target_regions, source, targets):
            raise ConfigurationError(
                f"--parameter-overrides {TARGET_REGIONS}={target_regions} disagrees with --regions {text}: "
                f"the local target regions are the stack's {TARGET_REGIONS} (here {','.join(targets)}); "
                "drop the override or give the same regions"
            )
        return source, targets, FROM_REGIONS
    if target_regions is None:
        source, targets = parse_regions(None)
        return source, targets, "from the default regions"
    named = [r.strip() for r in target_regions.split(",") if r.strip() and r.strip() != DEFAULT_SOURCE_REGION]
    source, targets = parse_regions(",".join(dict.fromkeys([DEFAULT_SOURCE_REGION, *named])))
    return source, targets, "override (sets the local target regions)"


def run_summary(sfn: Any, execution_arn: str) -> Mapping[str, Any]:
    """The summary a finished run ended with (its output; ``{}`` if none)."""
    desc = sfn.describe_execution(executionArn=execution_arn)
    try:
        output = json.loads(desc.get("output") or "null")
    except ValueError:
        return {}
    return output if isinstance(output, dict) else {}


RUNTIME_NAMES = {"lambda": "Lambda", "codebuild": "CodeBuild"}


def outcome_line(label: str, view: Any, summary: Mapping[str, Any]) -> str:
    """How a push's run ended, on one line: ``SKIPPED: LABEL: reason`` for a run the filters (or
    an untagged push) stopped, else ``STATUS: LABEL, copied in Lambda|CodeBuild``."""
    if summary.get("status") == "SKIPPED":
        return f"SKIPPED: {label}: {summary.get('reason')}"
    runtimes = sorted({RUNTIME_NAMES.get(row.runtime, row.runtime) for row in view.rows if row.runtime})
    where = f", copied in {', '.join(runtimes)}" if runtimes else ""
    return f"{view.status}: {label}{where}"
