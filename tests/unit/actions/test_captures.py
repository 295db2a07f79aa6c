"""Reading a captured value out of a pre-check's output: JSON paths, regex groups, types."""

from __future__ import annotations

import pytest

from bot.actions.captures import read_value
from bot.errors import ActionError
from bot.policy.documents import CaptureSource, CaptureSpec, ExecutorKind, ExecutorSpec, RunMode

READ = ExecutorSpec(kind=ExecutorKind.COMMAND, mode=RunMode.LIVE, argv=("kubectl",))


def rule(source: CaptureSource, text: str, as_type: str = "string") -> CaptureSpec:
    return CaptureSpec(name="previous", executor=READ, source=source, rule=text, as_type=as_type)


@pytest.mark.parametrize(
    ("spec", "output", "value"),
    [
        (rule(CaptureSource.JSON_PATH, "spec.replicas", "integer"), '{"spec": {"replicas": 3}}', 3),
        (
            rule(CaptureSource.JSON_PATH, "items.1.v"),
            '{"items": [{"v": "a"}, {"v": "v2.1.0"}]}',
            "v2.1.0",
        ),
        (rule(CaptureSource.JSON_PATH, "enabled", "boolean"), '{"enabled": false}', False),
        (rule(CaptureSource.REGEX, r"replicas=(\d+)", "integer"), "ok replicas=12\n", 12),
        (rule(CaptureSource.REGEX, r"flag is (on|off)"), "the flag is off", "off"),
    ],
)
def test_values_are_read_and_converted(spec: CaptureSpec, output: str, value: object) -> None:
    assert read_value(spec, output) == value


@pytest.mark.parametrize(
    ("spec", "output"),
    [
        (rule(CaptureSource.JSON_PATH, "spec.replicas"), "not json"),
        (rule(CaptureSource.JSON_PATH, "spec.replicas"), '{"spec": {}}'),
        (rule(CaptureSource.JSON_PATH, "spec", "string"), '{"spec": {"a": 1}}'),
        (rule(CaptureSource.JSON_PATH, "n", "integer"), '{"n": true}'),
        (rule(CaptureSource.REGEX, r"replicas=(\d+)"), "nothing here"),
        (rule(CaptureSource.JSON_PATH, "n", "boolean"), '{"n": "maybe"}'),
    ],
)
def test_absent_or_unusable_values_are_refused(spec: CaptureSpec, output: str) -> None:
    with pytest.raises(ActionError):
        read_value(spec, output)
