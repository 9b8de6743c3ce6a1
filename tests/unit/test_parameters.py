"""Template parameters for local runs (issue 16): ``--parameter-overrides`` read as ``sam deploy``
reads it, every constraint kind CloudFormation checks, the regions and runtime shorthands of
``local demo|up`` (:class:`LocalRun`, what the commands run), and the parameters in force as they
are printed. No twin is started here: tests/e2e/test_parameters_local.py runs them."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest

from ecr_replicate.errors import ConfigurationError, InvalidInputError
from ecr_replicate_cli import main as cli
from ecr_replicate_local import command
from ecr_replicate_local.local_run import LocalRun
from ecr_replicate_local.parameters import ParameterSpec, declared, in_force, parse_overrides, values_in_force
from ecr_replicate_local.template import Template, load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


def spec(**declaration: Any) -> ParameterSpec:
    return ParameterSpec.from_template("P", declaration)


def local_args(*argv: str) -> argparse.Namespace:
    """``ecr-replicate local ARGV`` parsed by the command's own parser (as ecr_replicate_cli.main does)."""
    parser = argparse.ArgumentParser(prog="ecr-replicate local")
    command.configure(parser)
    return parser.parse_args(list(argv))


# --- the sam deploy spelling --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["A=1"], {"A": "1"}),
        (["A=1", "B=2"], {"A": "1", "B": "2"}),  # several pairs after one flag
        (["A=1 B=2"], {"A": "1", "B": "2"}),  # several pairs in one argument (samconfig.toml's form)
        (["TargetRegions=eu-west-1,eu-west-2"], {"TargetRegions": "eu-west-1,eu-west-2"}),  # commas
        (["ParameterKey=A,ParameterValue=x,y"], {"A": "x,y"}),  # the long form, a comma in the value
        (["A=\"two words\" B='a b'"], {"A": "two words", "B": "a b"}),  # quoted values
        (["A=two\\ words"], {"A": "two words"}),  # an escaped space
        (["A="], {"A": ""}),  # an empty value (e.g. NotificationEmail=)
        (["A=x=y"], {"A": "x=y"}),  # only the first = separates
        (["A=1", "A=2"], {"A": "2"}),  # the last one wins, as with sam deploy
        ([], {}),
    ],
)
def test_overrides_are_read_as_sam_deploy_reads_them(arguments: list[str], expected: dict[str, str]) -> None:
    assert parse_overrides(arguments) == expected


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("MaxConcurrency", "'MaxConcurrency' is not KEY=VALUE"),
        ("TargetRegions=eu west-1", 'west-1\' is not KEY=VALUE .*quote a value with spaces: KEY="A B"'),
        ("=1", "'' is not a parameter name"),
        ("Max-Concurrency=1", "'Max-Concurrency' is not a parameter name"),
        ('A="unterminated', "No closing quotation"),
    ],
)
def test_malformed_overrides_say_what_is_wrong(argument: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_overrides([argument])


def test_the_option_takes_several_pairs_and_repeats() -> None:
    args = local_args(
        "up", "--parameter-overrides", "A=1", "B=2", "--data", "/tmp/x", "--parameter-overrides", "C=3"
    )
    assert args.parameter_overrides == ["A=1", "B=2", "C=3"]
    assert args.data == Path("/tmp/x")


# --- each constraint kind --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declaration", "good", "bad", "message"),
    [
        (
            {"AllowedValues": ["auto", "lambda"]},
            "lambda",
            "fast",
            r"P='fast': must be one of 'auto', 'lambda' \(AllowedValues\)",
        ),
        (
            {"AllowedPattern": "[a-z]+"},
            "abc",
            "abc1",
            r"P='abc1': must match \[a-z\]\+ \(AllowedPattern\)",
        ),  # whole value
        ({"MinLength": 2}, "ab", "a", r"P='a': must be at least 2 characters long \(MinLength\)"),
        ({"MaxLength": 3}, "abc", "abcd", r"P='abcd': must be at most 3 characters long \(MaxLength\)"),
        ({"Type": "Number"}, "1.5", "ten", r"P='ten': must be a number \(Type Number\)"),
        ({"Type": "Number"}, "-2e3", "1,000", r"must be a number"),
        ({"Type": "Number"}, "10", "nan", r"must be a number"),
        ({"Type": "Number", "MinValue": 1}, "1", "0", r"P='0': must be at least 1 \(MinValue\)"),
        ({"Type": "Number", "MaxValue": 40}, "40", "41", r"P='41': must be at most 40 \(MaxValue\)"),
        (
            {"Type": "Number", "AllowedValues": [1, 7, 30]},
            "7",
            "8",
            r"P='8': must be one of 1, 7, 30 \(AllowedValues\)",
        ),
        (
            {"Type": "CommaDelimitedList", "AllowedValues": ["a", "b"]},
            "a,b",
            "a,c",
            r"item 'c' must be one of 'a', 'b'",
        ),
        (
            {"Type": "CommaDelimitedList", "AllowedPattern": "[a-z]+"},
            "ab, cd",
            "ab,c1",
            r"item 'c1' must match",
        ),
        ({"Type": "List<Number>", "MaxValue": 5}, "1,5", "1,6", r"item '6' must be at most 5 \(MaxValue\)"),
    ],
)
def test_each_constraint_kind(declaration: dict[str, Any], good: str, bad: str, message: str) -> None:
    declared_spec = spec(**declaration)
    assert declared_spec.check(good) == good
    with pytest.raises(ConfigurationError, match=message):
        declared_spec.check(bad)


def test_the_constraint_description_is_what_the_error_says() -> None:
    declared_spec = spec(AllowedPattern="[a-z]+", ConstraintDescription="lower-case letters only")
    with pytest.raises(ConfigurationError) as caught:
        declared_spec.check("Abc")
    assert str(caught.value) == (
        "parameter P='Abc': lower-case letters only (AllowedPattern: must match [a-z]+)"
    )
    assert "\n" not in str(caught.value)


def test_a_long_value_is_shortened_in_the_message() -> None:
    with pytest.raises(ConfigurationError) as caught:
        spec(MaxLength=3).check("x" * 500)
    assert len(str(caught.value)) < 160


def test_list_values_reach_ref_as_lists() -> None:
    assert spec(Type="CommaDelimitedList").items(" a, b ,,c ") == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        (
            {"Type": "AWS::EC2::KeyPair::KeyName"},
            "type AWS::EC2::KeyPair::KeyName cannot be resolved locally",
        ),
        ({"AllowedPattern": "("}, "AllowedPattern is not a regex"),
        ({"MinLength": "two"}, "MinLength 'two' is not a whole number"),
        ({"Type": "Number", "MaxValue": "many"}, "MaxValue 'many' is not a number"),
    ],
)
def test_declarations_the_twin_cannot_check_are_refused(declaration: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        spec(**declaration)


def test_unknown_keys_list_the_known_ones_and_suggest_the_nearest() -> None:
    specs = declared(load_template(TEMPLATE))
    with pytest.raises(ConfigurationError) as caught:
        values_in_force(specs, {"MaxConcurency": "3"})
    message = str(caught.value)
    assert message.startswith("unknown template parameter MaxConcurency: did you mean MaxConcurrency?")
    assert all(name in message for name in specs)
    with pytest.raises(ConfigurationError, match="did you mean CopyRuntime"):
        values_in_force(specs, {"copyruntime": "lambda"})


def test_a_parameter_without_default_needs_a_value() -> None:
    specs = {"Needed": ParameterSpec.from_template("Needed", {"Type": "String"})}
    with pytest.raises(
        ConfigurationError, match="Needed has no Default: give --parameter-overrides Needed=VALUE"
    ):
        values_in_force(specs, {})


def test_yaml_defaults_read_as_cloudformation_reads_them() -> None:
    assert spec(Type="Number", Default=30).default == "30"
    assert spec(Default=True).default == "true"
    assert spec(Type="CommaDelimitedList", Default=["a", "b"]).default == "a,b"


# --- the template's own parameters ---------------------------------------------------------------


def test_every_default_of_the_template_passes_its_own_constraints() -> None:
    specs = declared(load_template(TEMPLATE))
    values = values_in_force(specs, {"TargetRegions": "eu-west-1"})
    assert values["CopyRuntime"] == "auto" and values["MaxConcurrency"] == "10"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("CopyRuntime=fast", "CopyRuntime='fast': must be one of 'auto', 'lambda', 'codebuild'"),
        ("MaxConcurrency=41", "MaxConcurrency='41': must be at most 40 (MaxValue)"),
        ("MaxConcurrency=0", "MaxConcurrency='0': must be at least 1 (MinValue)"),
        ("LambdaMaxImageBytes=-1", "LambdaMaxImageBytes='-1': must be at least 0 (MinValue)"),
        ("LambdaMaxImageBytes=1GiB", "LambdaMaxImageBytes='1GiB': must be a number"),
        ("LogRetentionDays=8", "LogRetentionDays='8': must be one of 1, 3, 5, 7, 14"),
        ("MirrorRepositorySettings=yes", "MirrorRepositorySettings='yes': must be one of 'true', 'false'"),
        ("CloudTrailTrigger=True", "CloudTrailTrigger='True': must be one of 'true', 'false'"),
        ("NotificationEmail=ops", "NotificationEmail='ops': empty, or one e-mail address"),
        (
            "TargetRegions=eu-west-1,EU-west-2",
            "TargetRegions='eu-west-1,EU-west-2': a comma-separated list of region names without spaces",
        ),
    ],
)
def test_local_up_refuses_a_bad_value_in_one_line(override: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        LocalRun.from_args(local_args("up", "--parameter-overrides", override))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_number_cloudformation_accepts_but_the_functions_refuse_is_caught_before_start() -> None:
    with pytest.raises(ConfigurationError) as caught:
        LocalRun.from_args(local_args("up", "--parameter-overrides", "LambdaMaxImageBytes=1.5"))
    assert str(caught.value) == (
        "parameter LambdaMaxImageBytes='1.5': CloudFormation would accept it, but the functions refuse it "
        "(every run would fail): LAMBDA_MAX_IMAGE_BYTES must be an integer, got '1.5'"
    )


def test_the_command_exits_2_with_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["local", "up", "--parameter-overrides", "Nope=1"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ecr-replicate local: unknown template parameter Nope:")
    assert "CopyRuntime" in err[0]


# --- regions, runtime, what is printed -------------------------------------------------------------


def test_target_regions_follow_the_local_regions() -> None:
    run = LocalRun.from_args(local_args("up", "--regions", "us-east-1,eu-west-1,ap-southeast-1"))
    assert (run.source, run.targets) == ("us-east-1", ["eu-west-1", "ap-southeast-1"])
    assert run.parameters.values["TargetRegions"] == "eu-west-1,ap-southeast-1"
    assert run.parameters.origins["TargetRegions"] == "from --regions"
    # an override naming the same targets (any order, the source dropped as the template says) is fine
    same = LocalRun.from_args(
        local_args("up", "--regions", "us-east-1,eu-west-1,ap-southeast-1", "--parameter-overrides",
                   "TargetRegions=ap-southeast-1,us-east-1,eu-west-1")
    )  # fmt: skip
    assert same.targets == ["eu-west-1", "ap-southeast-1"]


def test_target_regions_that_disagree_with_regions_is_an_error_that_says_so() -> None:
    with pytest.raises(ConfigurationError) as caught:
        LocalRun.from_args(
            local_args(
                "up", "--regions", "us-east-1,eu-west-1", "--parameter-overrides", "TargetRegions=eu-west-2"
            )
        )
    assert str(caught.value) == (
        "--parameter-overrides TargetRegions=eu-west-2 disagrees with --regions us-east-1,eu-west-1: "
        "the local target regions are the stack's TargetRegions (here eu-west-1); "
        "drop the override or give the same regions"
    )


def test_without_regions_target_regions_picks_the_local_targets() -> None:
    run = LocalRun.from_args(
        local_args("demo", "--parameter-overrides", "TargetRegions=eu-central-1,us-east-1")
    )
    assert (run.source, run.targets) == ("us-east-1", ["eu-central-1"])
    assert run.parameters.origins["TargetRegions"] == "override (sets the local target regions)"
    with pytest.raises(InvalidInputError, match="needs a source and at least one target"):
        LocalRun.from_args(local_args("demo", "--parameter-overrides", "TargetRegions=us-east-1"))


def test_runtime_is_a_shorthand_for_copy_runtime() -> None:
    run = LocalRun.from_args(local_args("up", "--runtime", "codebuild"))
    assert run.parameters.values["CopyRuntime"] == "codebuild"
    assert run.parameters.origins["CopyRuntime"] == "from --runtime"
    assert run.parameters.overrides["CopyRuntime"] == "codebuild"
    agreeing = LocalRun.from_args(
        local_args("up", "--runtime", "lambda", "--parameter-overrides", "CopyRuntime=lambda")
    )
    assert agreeing.parameters.values["CopyRuntime"] == "lambda"
    with pytest.raises(
        ConfigurationError, match="--runtime lambda and --parameter-overrides CopyRuntime=codebuild disagree"
    ):
        LocalRun.from_args(
            local_args("up", "--runtime", "lambda", "--parameter-overrides", "CopyRuntime=codebuild")
        )
    default = LocalRun.from_args(local_args("up"))
    assert default.parameters.values["CopyRuntime"] == "auto"  # the template's default, as deployed
    assert "CopyRuntime" not in default.parameters.overrides


def test_the_parameters_in_force_are_printed_with_their_origin() -> None:
    run = LocalRun.from_args(
        local_args("up", "--regions", "us-east-1,eu-west-1", "--parameter-overrides",
                   "RepositoryInclude=team/*,tools/*", "MirrorRepositorySettings=true")
    )  # fmt: skip
    lines = run.parameter_lines()
    assert lines[0] == "Template parameters (template.yaml):"
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == set(declared(load_template(TEMPLATE)))  # every parameter, defaults included
    assert rows["TargetRegions"][1:] == ["eu-west-1", "from", "--regions"]
    assert rows["RepositoryInclude"][1:] == ["team/*,tools/*", "override"]
    assert rows["MirrorRepositorySettings"][1:] == ["true", "override"]
    assert rows["RepositoryExclude"][1:] == ['""', "default"]
    assert rows["MaxConcurrency"][1:] == ["10", "default"]
    assert run.parameters.overrides == {
        "TargetRegions": "eu-west-1",
        "RepositoryInclude": "team/*,tools/*",
        "MirrorRepositorySettings": "true",
    }


def test_no_echo_values_are_masked() -> None:
    specs = {
        "Secret": ParameterSpec.from_template("Secret", {"Type": "String", "NoEcho": True, "Default": "x"})
    }
    assert in_force(specs, {"Secret": "hunter2"}).lines() == ["Secret  ****  override"]


# --- where each parameter lands, as CloudFormation resolves it --------------------------------------

#: parameter -> the environment variable the template gives every function and the copy build
ENVIRONMENT = {
    "TargetRegions": "TARGET_REGIONS",
    "RepositoryInclude": "REPOSITORY_INCLUDE",
    "RepositoryExclude": "REPOSITORY_EXCLUDE",
    "TagInclude": "TAG_INCLUDE",
    "TagExclude": "TAG_EXCLUDE",
    "CopyRuntime": "COPY_RUNTIME",
    "LambdaMaxImageBytes": "LAMBDA_MAX_IMAGE_BYTES",
    "MaxConcurrency": "MAX_CONCURRENCY",
    "MirrorRepositorySettings": "MIRROR_REPOSITORY_SETTINGS",
}
#: parameter -> the resources its Condition switches on (a non-default value)
CONDITIONED = {
    "CloudTrailTrigger": ("true", {"CloudTrailPutImageRule", "CloudTrailPutImageDeadLetterQueue",
                                   "CloudTrailPutImageDeadLetterQueuePolicy",
                                   "CloudTrailPutImageDeadLetterAlarm"}),
    "NotificationEmail": ("ops@example.com", {"NotificationEmailSubscription"}),
}  # fmt: skip
NON_DEFAULT = {
    "TargetRegions": "eu-west-1,ap-southeast-1",
    "RepositoryInclude": "team/*,tools/*",
    "RepositoryExclude": "team/secret-*",
    "TagInclude": "v*",
    "TagExclude": "*-rc*",
    "CopyRuntime": "codebuild",
    "LambdaMaxImageBytes": "65536",
    "MaxConcurrency": "1",
    "MirrorRepositorySettings": "true",
    "CloudTrailTrigger": "true",
    "NotificationEmail": "ops@example.com",
    "LogRetentionDays": "7",
    "ReconcileSchedule": "rate(6 hours)",
}


def resolved(parameters: dict[str, str]) -> Template:
    return Template(TEMPLATE, region="us-east-1", account="123456789012", parameters=parameters)


def test_every_template_parameter_is_covered_here() -> None:
    """A parameter added to template.yaml fails this until its local effect is pinned below (and
    docs/local-twin.md says what is visible locally)."""
    assert set(NON_DEFAULT) == set(declared(load_template(TEMPLATE)))
    table = (ROOT / "docs" / "local-twin.md").read_text().split("## Template parameters", 1)[1]
    for name in NON_DEFAULT:
        assert f"`{name}`" in table, f"docs/local-twin.md does not say what {name} shows locally"


def test_each_parameter_reaches_every_function_and_the_copy_build() -> None:
    from ecr_replicate_local import stack_spec  # noqa: PLC0415

    tpl = resolved(NON_DEFAULT)
    functions = stack_spec.functions(tpl)
    (build,) = stack_spec.codebuild_projects(tpl).values()
    assert functions
    for name, variable in ENVIRONMENT.items():
        for function in functions.values():
            assert function.environment[variable] == NON_DEFAULT[name], (function.logical_id, variable)
        assert build.environment[variable] == NON_DEFAULT[name], variable


def test_the_functions_read_each_value_as_configured() -> None:
    from ecr_replicate.config import Settings  # noqa: PLC0415
    from ecr_replicate_local import stack_spec  # noqa: PLC0415

    plan = stack_spec.functions(resolved(NON_DEFAULT))["PlanFunction"]
    settings = Settings.from_env({**plan.environment, "AWS_REGION": "us-east-1"})
    assert settings.target_regions == ("eu-west-1", "ap-southeast-1")
    assert settings.repository_include == ("team/*", "tools/*")
    assert settings.repository_exclude == ("team/secret-*",)
    assert (settings.tag_include, settings.tag_exclude) == (("v*",), ("*-rc*",))
    assert (settings.copy_runtime, settings.lambda_max_image_bytes) == ("codebuild", 65536)
    assert (settings.max_concurrency, settings.mirror_repository_settings) == (1, True)


@pytest.mark.parametrize("name", sorted(CONDITIONED))
def test_conditions_switch_their_resources(name: str) -> None:
    value, resources = CONDITIONED[name]
    on = resolved({"TargetRegions": "eu-west-1", name: value})
    off = resolved({"TargetRegions": "eu-west-1"})
    for lid in resources:
        assert on.resource_enabled(lid) and not off.resource_enabled(lid), lid


def test_mirroring_permissions_exist_only_with_mirror_repository_settings() -> None:
    def ensure_actions(value: str) -> set[str]:
        tpl = resolved({"TargetRegions": "eu-west-1", "MirrorRepositorySettings": value})
        props = tpl.resolve(tpl.data["Resources"]["EnsureRepositoryFunction"]["Properties"])
        return {a for p in props["Policies"] for s in p["Statement"] for a in s["Action"]}

    mirroring = {
        "ecr:PutImageTagMutability",
        "ecr:PutLifecyclePolicy",
        "ecr:SetRepositoryPolicy",
        "ecr:TagResource",
    }
    assert mirroring <= ensure_actions("true")
    assert not mirroring & ensure_actions("false")


def test_reconcile_schedule_is_the_schedule_expression_and_none_removes_the_schedule() -> None:
    on = resolved({"TargetRegions": "eu-west-1", "ReconcileSchedule": "rate(6 hours)"})
    (schedule,) = on.resources_of_type("AWS::Scheduler::Schedule").values()
    assert on.resolve(schedule["Properties"]["ScheduleExpression"]) == "rate(6 hours)"
    default = resolved({"TargetRegions": "eu-west-1"})
    assert default.resolve(schedule["Properties"]["ScheduleExpression"]) == "rate(1 day)"
    off = resolved({"TargetRegions": "eu-west-1", "ReconcileSchedule": "none"})
    assert not off.resources_of_type("AWS::Scheduler::Schedule")
    assert not off.resource_enabled("ScheduledReconcileRole")


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("rate(0 days)", "the rate's value must be a positive integer"),
        ("rate(5 weeks)", "a rate is rate(N minute|minutes"),
        ("cron(0 3 * *)", "a cron expression has six fields"),
        ("at(2030-01-01 03:00)", "a one-time schedule is at(yyyy-mm-ddThh:mm:ss)"),
        ("every day", "the expression is rate(...), cron(...) or at(...)"),
    ],
)
def test_schedule_expressions_are_checked_as_scheduler_checks_them(expression: str, problem: str) -> None:
    from ecr_replicate_local.schedules import check_expression  # noqa: PLC0415

    with pytest.raises(ConfigurationError, match=re.escape(problem)):
        check_expression("S", expression)
    for fine in ("rate(1 minute)", "rate(6 hours)", "cron(0 3 * * ? *)", "at(2030-01-01T03:00:00)"):
        check_expression("S", fine)


def test_a_schedule_the_pattern_allows_but_scheduler_refuses_is_caught_before_start() -> None:
    with pytest.raises(ConfigurationError) as caught:
        LocalRun.from_args(local_args("up", "--parameter-overrides", 'ReconcileSchedule="rate(0 days)"'))
    assert str(caught.value) == (
        "parameter ReconcileSchedule='rate(0 days)': EventBridge Scheduler refuses the ScheduleExpression "
        "'rate(0 days)' of ScheduledReconcile: the rate's value must be a positive integer (CloudFormation "
        "would roll the stack back)"
    )


def test_log_retention_days_reaches_every_log_group() -> None:
    tpl = resolved({"TargetRegions": "eu-west-1", "LogRetentionDays": "7"})
    groups = tpl.resources_of_type("AWS::Logs::LogGroup")
    assert groups
    for lid, res in groups.items():
        assert tpl.resolve(res["Properties"]["RetentionInDays"]) == "7", lid
