"""``ecr-replicate dead-letters [--replay] [--stack NAME] [--queue URL] [--max N]``.

Push events EventBridge could not deliver to the workflow (its RetryPolicy exhausted, or a
permission missing) wait in the trigger rules' dead-letter queues (stack outputs
``*DeadLetterQueueUrl``; locally ``ECR_REPLICATE_DEAD_LETTER_QUEUES``, as ``local up`` prints).
By default this lists them and what a replay would do, and changes nothing: each message is
received and made visible again at once. ``--replay`` starts one execution per event, named
:func:`execution_name` (as the local webhook bridge names the executions it starts), and deletes a
message only once its execution started, or once Step Functions said an execution of that name
already exists (a message SQS delivered twice, or an earlier replay whose delete failed). A
message that is not a trigger this workflow accepts is left in its queue and reported.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from ecr_replicate.errors import InvalidInputError, ReplicationError
from ecr_replicate.model import parse_request
from ecr_replicate_cli import deployment

EXECUTION_PREFIX = "ecr-push-"
_NAME_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ID_NAMESPACE = uuid.UUID("8f1d6c3e-52b7-4c49-9a4e-0d4f4b1d7a21")
RECEIVE_BATCH = 10  # SQS's largest batch
LIST_VISIBILITY_SECONDS = 30  # a listed message is hidden this long at most (released at once)
REPLAY_VISIBILITY_SECONDS = 120  # time to start its execution before another reader sees it
DEFAULT_MAX = 1000
EXIT_OK = 0
EXIT_LEFT = 1  # some messages could not be replayed and are still queued


def execution_name(event: dict[str, Any]) -> str:
    """The execution name of an event: ``ecr-push-<event id>``; an id that is not a safe name
    part (length, characters) becomes a UUID derived from it. At most 80 characters."""
    event_id = str(event.get("id", ""))
    if not _NAME_SAFE.fullmatch(event_id):
        event_id = str(uuid.uuid5(_ID_NAMESPACE, event_id))
    return f"{EXECUTION_PREFIX}{event_id}"


@dataclass
class DeadLetter:
    """One message of a dead-letter queue, with what it holds."""

    queue_url: str
    message_id: str
    receipt_handle: str
    body: str
    attributes: dict[str, str]
    event: dict[str, Any] | None = None
    problem: str | None = None  # why it cannot be replayed

    @property
    def label(self) -> str:
        if self.event is None:
            return f"message {self.message_id}"
        detail = _object(self.event.get("detail"))
        params = _object(detail.get("requestParameters"))
        repository = detail.get("repository-name") or params.get("repositoryName") or "?"
        tag = detail.get("image-tag") or params.get("imageTag")
        digest = str(detail.get("image-digest") or "")[:19]
        return f"{repository}{':' + str(tag) if tag else ''}{' @' + digest if digest else ''}"[:160]

    @property
    def why_dead(self) -> str:
        code = self.attributes.get("ERROR_CODE")
        message = self.attributes.get("ERROR_MESSAGE", "")
        return f"{code}: {message[:120]}" if code else "no error attributes"


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_letter(queue_url: str, message: dict[str, Any], source_region: str) -> DeadLetter:
    attributes = {
        str(name): str(value.get("StringValue", ""))
        for name, value in (message.get("MessageAttributes") or {}).items()
        if isinstance(value, dict)
    }
    letter = DeadLetter(
        queue_url=queue_url,
        message_id=str(message["MessageId"]),
        receipt_handle=str(message["ReceiptHandle"]),
        body=str(message.get("Body", "")),
        attributes=attributes,
    )
    try:
        event = json.loads(letter.body)
    except ValueError:
        letter.problem = "the message is not JSON"
        return letter
    if not isinstance(event, dict) or "detail-type" not in event:
        letter.problem = "the message is not an EventBridge event"
        return letter
    letter.event = event
    try:
        parse_request(event, default_region=source_region)
    except ReplicationError as exc:
        letter.problem = str(exc)[:300]
    return letter


def receive(sqs: Any, queue_url: str, *, visibility: int, limit: int, source_region: str) -> list[DeadLetter]:
    """Up to ``limit`` messages of the queue, each once, hidden for ``visibility`` seconds."""
    letters: dict[str, DeadLetter] = {}
    while len(letters) < limit:
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(RECEIVE_BATCH, limit - len(letters)),
            VisibilityTimeout=visibility,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages") or []
        fresh = [m for m in messages if m["MessageId"] not in letters]
        if not fresh:
            break
        for message in fresh:
            letters[str(message["MessageId"])] = parse_letter(queue_url, message, source_region)
    return list(letters.values())


def release(sqs: Any, letters: list[DeadLetter]) -> None:
    """Make received messages visible again now (what a dry run received, and what was kept)."""
    for start in range(0, len(letters), RECEIVE_BATCH):
        batch = letters[start : start + RECEIVE_BATCH]
        if batch:
            sqs.change_message_visibility_batch(
                QueueUrl=batch[0].queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": letter.receipt_handle, "VisibilityTimeout": 0}
                    for i, letter in enumerate(batch)
                ],
            )


def _execution_arn(state_machine_arn: str, name: str) -> str:
    prefix, _, machine = state_machine_arn.partition(":stateMachine:")
    return f"{prefix}:execution:{machine}:{name}"


def _exists(sfn: Any, state_machine_arn: str, name: str) -> bool:
    from botocore.exceptions import ClientError  # noqa: PLC0415 - keep --help fast

    try:
        sfn.describe_execution(executionArn=_execution_arn(state_machine_arn, name))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            return False
        raise
    return True


def replay_one(sfn: Any, sqs: Any, state_machine_arn: str, letter: DeadLetter) -> str:
    """Start the letter's execution unless one of its name exists, then delete the message;
    returns what happened. (StartExecution alone would answer a running execution of the same
    name and input as if it had started it.)"""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    assert letter.event is not None and letter.problem is None
    name = execution_name(letter.event)
    duplicate = f"already started as {name} (duplicate)"
    if _exists(sfn, state_machine_arn, name):
        outcome = duplicate
    else:
        try:
            sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=letter.body)
            outcome = f"started {name}"
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
            outcome = duplicate
    sqs.delete_message(QueueUrl=letter.queue_url, ReceiptHandle=letter.receipt_handle)
    return outcome


@dataclass
class Report:
    listed: int = 0
    replayed: int = 0
    left: int = 0


def _letters(
    args: argparse.Namespace, where: deployment.Deployment, sqs: Any, visibility: int
) -> Iterator[tuple[str, list[DeadLetter]]]:
    queues = args.queue or list(where.dead_letter_queues)
    if not queues:
        raise InvalidInputError(
            "no dead-letter queue: the stack has no *DeadLetterQueueUrl output "
            f"(or set {deployment.ENV_DEAD_LETTER_QUEUES}, or pass --queue URL)"
        )
    for queue_url in queues:
        yield (
            queue_url,
            receive(sqs, queue_url, visibility=visibility, limit=args.max, source_region=where.source_region),
        )


def run_letters(args: argparse.Namespace, where: deployment.Deployment, out: TextIO) -> Report:
    sqs, sfn = where.client("sqs"), where.client("stepfunctions")
    report = Report()
    visibility = REPLAY_VISIBILITY_SECONDS if args.replay else LIST_VISIBILITY_SECONDS
    for queue_url, letters in _letters(args, where, sqs, visibility):
        print(f"{queue_url}: {len(letters)} dead letter{'s' * (len(letters) != 1)}", file=out)
        keep: list[DeadLetter] = []
        try:
            for letter in letters:
                report.listed += 1
                line = f"  {letter.label}  [{letter.why_dead}]"
                if letter.problem is not None:
                    print(f"{line}\n    left in the queue: {letter.problem}", file=out)
                    keep.append(letter)
                    report.left += 1
                    continue
                assert letter.event is not None
                name = execution_name(letter.event)
                if not args.replay:
                    ran = _exists(sfn, where.replicate_arn, name)
                    action = f"already ran as {name}: would delete" if ran else f"would start {name}"
                    print(f"{line}\n    {action}", file=out)
                    keep.append(letter)
                    continue
                try:
                    outcome = replay_one(sfn, sqs, where.replicate_arn, letter)
                except Exception as exc:  # reported; the message stays for the next replay
                    print(f"{line}\n    NOT replayed ({type(exc).__name__}: {str(exc)[:200]})", file=out)
                    keep.append(letter)
                    report.left += 1
                    continue
                report.replayed += 1
                print(f"{line}\n    {outcome}; message deleted", file=out)
        finally:
            release(sqs, keep)
    return report


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--replay", action="store_true", help="start an execution per event (default: list only)"
    )
    parser.add_argument("--stack", help="the deployment's CloudFormation stack (default: the environment)")
    parser.add_argument("--region", help="the stack's region")
    parser.add_argument(
        "--queue", action="append", help="a dead-letter queue URL (repeatable; default: the stack's)"
    )
    parser.add_argument(
        "--max", type=int, default=DEFAULT_MAX, help=f"messages per queue at most (default {DEFAULT_MAX})"
    )


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.max <= 100_000:
        raise InvalidInputError("--max must be between 1 and 100000")
    where = deployment.resolve(args.stack, args.region)
    report = run_letters(args, where, sys.stdout)  # errors end through ecr_replicate_cli.exits
    if not args.replay and report.listed - report.left:
        print("dry run: nothing started, nothing deleted (pass --replay)")
    return EXIT_LEFT if report.left else EXIT_OK
