"""Loading and validating runbook files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.config import PROJECT_ROOT
from bot.errors import ConfigError
from bot.models import Category
from bot.retrieval import check_runbooks, load_runbooks
from bot.retrieval.runbooks import corpus_hash, split_front_matter

SHIPPED_SERVICES = {
    "payment-gateway", "auth-service", "checkout", "cart-service", "search-api",
    "inventory", "notifications", "recommendations", "web-frontend", "batch-reports", "*",
}  # fmt: skip


def _allowlist() -> set[str]:
    data = yaml.safe_load((PROJECT_ROOT / "policies" / "actions.yaml").read_text())
    return set(data["actions"])


def test_shipped_runbooks_are_valid_and_cover_the_shop() -> None:
    runbooks = load_runbooks(PROJECT_ROOT / "runbooks")
    assert len(runbooks) >= 20
    assert len({r.id for r in runbooks}) == len(runbooks)
    for runbook in runbooks:
        assert set(runbook.services) <= SHIPPED_SERVICES, runbook.id
        assert {c.value for c in Category} >= set(runbook.categories), runbook.id
        assert set(runbook.actions) <= _allowlist(), runbook.id
        for section in ("## Symptoms", "## Checks", "## Mitigation", "## Escalation"):
            assert section in runbook.body, f"{runbook.id} lacks {section}"
    covered = {service for r in runbooks for service in r.services}
    assert SHIPPED_SERVICES <= covered, "every shop service has a runbook of its own"


def test_security_runbooks_recommend_no_automated_action() -> None:
    runbooks = load_runbooks(PROJECT_ROOT / "runbooks")
    security = [r for r in runbooks if "security" in r.categories]
    assert {r.id for r in security} >= {"credential-leak", "suspicious-authentication"}
    for runbook in security:
        assert set(runbook.actions) <= {"notify_oncall"}, runbook.id


def _write(folder: Path, name: str, front_matter: str, body: str = "## Checks\nlook\n") -> Path:
    path = folder / name
    path.write_text(f"---\n{front_matter}\n---\n{body}", encoding="utf-8")
    return path


GOOD = (
    "id: disk-full\ntitle: Disk full\nservices: ['*']\ncategories: [resource_exhaustion]\n"
    "actions: [notify_oncall]\nversion: '1.0.0'\nowner: sre"
)


def test_a_bad_category_is_reported_by_file_and_field(tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    _write(folder, "disk-full.md", GOOD.replace("[resource_exhaustion]", "[disk]"))
    runbooks, problems = check_runbooks(folder)
    assert runbooks == []
    assert len(problems) == 1
    assert problems[0].startswith(
        "runbooks/disk-full.md: front matter: categories[0]: 'disk' is not one of ["
    )
    with pytest.raises(ConfigError, match=r"runbooks/disk-full.md: front matter: categories\[0\]"):
        load_runbooks(folder)


@pytest.mark.parametrize(
    ("front_matter", "expected"),
    [
        (GOOD.replace("owner: sre", ""), "(root): 'owner' is a required property"),
        (GOOD.replace("[notify_oncall]", "[rm_rf]"), "actions[0]: 'rm_rf' is not one of"),
        (GOOD.replace("'1.0.0'", "'latest'"), "version: 'latest' does not match"),
        (GOOD + "\nextra: 1", "Additional properties are not allowed ('extra' was unexpected)"),
        (GOOD.replace("['*']", "[]"), "services: [] should be non-empty"),
        (
            GOOD.replace("[resource_exhaustion]", "[security]").replace(
                "[notify_oncall]", "[notify_oncall, restart_deployment]"
            ),
            "actions[1]: 'notify_oncall' was expected",
        ),
    ],
)
def test_schema_violations_name_the_field(tmp_path: Path, front_matter: str, expected: str) -> None:
    _write(tmp_path, "x.md", front_matter)
    _, problems = check_runbooks(tmp_path)
    assert any(expected in problem for problem in problems), problems
    assert all(problem.startswith(f"{tmp_path.name}/x.md: front matter: ") for problem in problems)


def test_malformed_files_and_duplicate_ids_are_reported(tmp_path: Path) -> None:
    (tmp_path / "a-no-fence.md").write_text("# just markdown\n", encoding="utf-8")
    (tmp_path / "b-open.md").write_text("---\nid: x\n", encoding="utf-8")
    _write(tmp_path, "c-first.md", GOOD)
    _write(tmp_path, "d-second.md", GOOD)
    (tmp_path / "README.md").write_text("not a runbook", encoding="utf-8")
    runbooks, problems = check_runbooks(tmp_path)
    assert [r.path for r in runbooks] == [f"{tmp_path.name}/c-first.md"]
    assert "a-no-fence.md: front matter: file must start with '---'" in problems[0]
    assert "b-open.md: front matter: front matter is not closed" in problems[1]
    assert "d-second.md: front matter: id: 'disk-full' also used by" in problems[2]
    assert len(problems) == 3


def test_split_front_matter_rejects_a_non_mapping() -> None:
    with pytest.raises(ValueError, match="mapping"):
        split_front_matter("---\n- a list\n---\nbody")


def test_corpus_hash_changes_with_content_and_tags(tmp_path: Path) -> None:
    _write(tmp_path, "one.md", GOOD)
    first = load_runbooks(tmp_path)
    assert corpus_hash(first) == corpus_hash(load_runbooks(tmp_path))
    assert corpus_hash(first, "model-a") != corpus_hash(first, "model-b")
    _write(tmp_path, "one.md", GOOD, body="## Checks\nlook harder\n")
    assert corpus_hash(load_runbooks(tmp_path)) != corpus_hash(first)
