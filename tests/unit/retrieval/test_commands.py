"""`incident-bot runbooks index | search | check` on a copy of the shipped runbooks."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bot.cli import runbooks as commands
from bot.compose import Root
from bot.config import Settings


def _run(argv: list[str], runbook_dir: Path, index_path: Path) -> int:
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    settings = Settings(
        RUNBOOK_DIR=runbook_dir, RUNBOOK_INDEX_PATH=index_path, RUNBOOK_EMBEDDINGS="none"
    )
    return int(args.handler(args, Root(settings)))


def test_index_draws_progress_and_reports_mode(
    runbook_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index_path = tmp_path / "idx.db"
    assert _run(["runbooks", "index"], runbook_dir, index_path) == 0
    captured = capsys.readouterr()
    assert "local index rebuilt: 25 runbooks" in captured.out
    assert "mode: bm25 only" in captured.out
    assert "indexing runbooks [" + "#" * commands.BAR_WIDTH + "]" in captured.err
    assert captured.err.count("\r") >= 2  # redrawn in place as chunks are indexed

    assert _run(["runbooks", "index"], runbook_dir, index_path) == 0
    assert "local index up to date" in capsys.readouterr().out
    assert _run(["runbooks", "index", "--force"], runbook_dir, index_path) == 0
    assert "local index rebuilt" in capsys.readouterr().out


def test_search_prints_citations_and_the_mode(
    runbook_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["runbooks", "search", "No space left on device", "--k", "2"]
    assert _run(argv, runbook_dir, tmp_path / "idx.db") == 0
    out = capsys.readouterr().out
    assert out.startswith("mode: bm25 only\n")
    assert "1. disk-full@1.2.0 § " in out
    assert "(runbooks/disk-full.md)" in out


def test_search_json_with_filters(
    runbook_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["runbooks", "search", "pods restarting", "--json", "--k", "3"]
    argv += ["--service", "notifications", "--category", "resource_exhaustion"]
    assert _run(argv, runbook_dir, tmp_path / "idx.db") == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["mode"] == "bm25 only"
    assert 0 < len(payload["results"]) <= 3
    for result in payload["results"]:
        assert {"runbook_id", "version", "section", "text", "score"} <= set(result)
        assert "resource_exhaustion" in result["categories"]
        assert {"notifications", "*"} & set(result["services"])


def test_check_passes_then_fails_on_a_broken_runbook(
    runbook_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["runbooks", "check"], runbook_dir, tmp_path / "idx.db") == 0
    assert "25 runbooks valid, 0 problems" in capsys.readouterr().out

    disk = runbook_dir / "disk-full.md"
    disk.write_text(disk.read_text().replace("[resource_exhaustion]", "[disk]"))
    assert _run(["runbooks", "check"], runbook_dir, tmp_path / "idx.db") == 1
    captured = capsys.readouterr()
    assert "runbooks/disk-full.md: front matter: categories[0]: 'disk' is not one of [" in (
        captured.err
    )
    assert "24 runbooks valid, 1 problems" in captured.out
