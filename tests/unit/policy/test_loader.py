"""Safety invariant 5: policy files are validated on load; anything invalid fails closed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import PolicyError
from bot.policy import load_policy


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, f"fixture drifted: {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count))


def _error(policy_dir: Path) -> str:
    with pytest.raises(PolicyError) as caught:
        load_policy(policy_dir)
    return str(caught.value)


def test_invariant_5_shipped_policy_loads_and_is_dry_run(policy_dir: Path) -> None:
    policy = load_policy(policy_dir)
    assert {"notify_oncall", "restart_deployment", "failover_region"} <= set(policy.actions)
    assert all(spec.executor.mode.value == "dry_run" for spec in policy.actions.values())
    assert policy.services["payment-gateway"].tier.value == "critical"
    assert policy.services["checkout"].tier.value == "standard"


def test_invariant_5_invalid_policy_fails_closed_naming_file_and_path(policy_dir: Path) -> None:
    text = (policy_dir / "actions.yaml").read_text()
    start = text.index("  restart_deployment:")
    risk = text.index("risk: medium", start)
    (policy_dir / "actions.yaml").write_text(text[:risk] + "risk: extreme" + text[risk + 12 :])
    message = _error(policy_dir)
    assert message.endswith(
        "actions.yaml: actions.restart_deployment.risk: "
        "'extreme' is not one of ['low', 'medium', 'high']"
    )


@pytest.mark.parametrize(
    ("filename", "old", "new", "expected"),
    [
        ("rules.yaml", "confidence_threshold: 0.7", "confidence_threshold: 7",
         "rules.yaml: confidence_threshold: 7 is greater than the maximum of 1"),
        ("rules.yaml", "critical: {low: 2,", "critical: {low: 1,",
         "rules.yaml: approvals.critical.low: 1 is less than the minimum of 2"),
        ("rules.yaml", "    actions: [notify_oncall]\n  unknown:",
         "    actions: [notify_oncall, restart_deployment]\n  unknown:",
         "rules.yaml: categories.security.actions[1]: 'notify_oncall' was expected"),
        ("rules.yaml", "error_rate:\n    actions: [notify_oncall,",
         "error_rate:\n    actions: [reboot_everything, notify_oncall,",
         "rules.yaml: categories.error_rate.actions[0]: 'reboot_everything' is not an action"),
        ("services.yaml", "tier: critical", "tier: crit",
         "services.yaml: services.payment-gateway.tier: 'crit' is not one of"),
        ("services.yaml", "approvers: [U0DATALEAD]", "approvers: [bob]",
         "services.yaml: services.batch-reports.approvers[0]: 'bob' does not match"),
        ("services.yaml", "timezone: UTC", "timezone: Mars/Olympus",
         "services.yaml: services.batch-reports.freeze[0].weekly.timezone: unknown time zone"),
        ("services.yaml", 'end: "2026-12-01T08:00:00Z"', 'end: "2026-11-01T08:00:00Z"',
         "services.yaml: services.payment-gateway.freeze[0].end: must be after start"),
        ("actions.yaml", "argv: [kubectl, --namespace, \"{namespace}\", describe",
         "argv: [/bin/sh, --namespace, \"{namespace}\", describe",
         "actions.yaml: actions.collect_diagnostics.executor.argv[0]: '/bin/sh' is an "
         "interpreter"),
        ("actions.yaml", 'message: "{message}"', 'message: "{secret}"',
         "actions.yaml: actions.notify_oncall.executor.body: placeholder {secret} is not a"),
        ("actions.yaml", "maximum: 50", "maximum: fifty",
         "actions.yaml: actions.scale_deployment.params: not a valid JSON Schema"),
        ("actions.yaml", "    read_only: true\n    auto: true\n    executor:\n      type: command",
         "    read_only: false\n    auto: true\n    executor:\n      type: command",
         "actions.yaml: actions.collect_diagnostics.auto: False was expected"),
        ("actions.yaml", "  mode: dry_run", "  mode: yolo",
         "actions.yaml: defaults.mode: 'yolo' is not one of"),
    ],
)  # fmt: skip
def test_invariant_5_each_kind_of_mistake_names_its_place(
    policy_dir: Path, filename: str, old: str, new: str, expected: str
) -> None:
    _edit(policy_dir / filename, old, new)
    assert expected in _error(policy_dir)


def test_invariant_5_duplicate_yaml_keys_are_refused(policy_dir: Path) -> None:
    _edit(
        policy_dir / "services.yaml",
        "  auth-service:\n",
        "  checkout:\n    tier: standard\n"
        "    owners: [x]\n    approvers: [U0X1]\n    deployments: []\n  auth-service:\n",
    )
    message = _error(policy_dir)
    assert "services.yaml: line" in message and "duplicate key 'checkout'" in message


def test_invariant_5_unparseable_yaml_names_the_line(policy_dir: Path) -> None:
    (policy_dir / "rules.yaml").write_text("version: 1\ncategories: [unclosed\n")
    assert "rules.yaml: line 3" in _error(policy_dir)


@pytest.mark.parametrize("missing", ["actions.yaml", "services.yaml", "rules.yaml"])
def test_invariant_5_missing_file_fails_closed(policy_dir: Path, missing: str) -> None:
    (policy_dir / missing).unlink()
    assert f"{missing}: cannot read" in _error(policy_dir)


def test_invariant_5_missing_schemas_fail_closed(policy_dir: Path) -> None:
    for schema in (policy_dir / "schema").glob("*.json"):
        schema.unlink()
    assert "no *.schema.json files" in _error(policy_dir)


def test_invariant_5_empty_file_fails_closed(policy_dir: Path) -> None:
    (policy_dir / "actions.yaml").write_text("")
    assert "actions.yaml: (top level): None is not of type 'object'" in _error(policy_dir)


def test_missing_policy_folder_fails_closed(tmp_path: Path) -> None:
    assert "policy folder not found" in _error(tmp_path / "nope")


def test_revision_is_a_hash_of_the_policy_bytes(policy_dir: Path) -> None:
    first = load_policy(policy_dir).revision
    assert first == load_policy(policy_dir).revision
    assert len(first) == 64 and int(first, 16) >= 0
    _edit(policy_dir / "rules.yaml", "# Policy rules.", "# Policy rules (edited).")
    assert load_policy(policy_dir).revision != first


def test_every_yaml_file_names_its_schema_for_editors(policy_dir: Path) -> None:
    for path in [*policy_dir.glob("*.yaml"), *(policy_dir / "tests").glob("*.yaml")]:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path.name
        schema = (path.parent / first.split("=", 1)[1]).resolve()
        assert schema.is_file(), schema
