"""The served runbook index follows the files: the scheduler's sweep re-indexes what changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.clock import utcnow
from bot.compose import Root
from bot.config import Settings, load_settings
from bot.retrieval.lazy import LazyRunbooks

SHIPPED = Path(__file__).resolve().parents[3] / "runbooks"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    books = tmp_path / "runbooks"
    shutil.copytree(SHIPPED, books)
    return load_settings(
        RUNBOOK_DIR=books,
        RUNBOOK_INDEX_PATH=tmp_path / "index.db",
        RUNBOOK_EMBEDDINGS="none",
        SQLITE_PATH=tmp_path / "bot.db",
    )


async def test_sweep_reindexes_changed_runbooks_and_survives_a_broken_one(
    settings: Settings,
) -> None:
    runtime = Root(settings).runtime()
    runbooks = runtime.pipeline.runbooks
    assert isinstance(runbooks, LazyRunbooks)
    assert runbooks.search("disk almost full on worker", 1)[0].runbook_id == "disk-full"
    assert not await runtime.pipeline.refresh_runbooks(utcnow())  # nothing changed

    disk = settings.runbook_dir / "disk-full.md"
    disk.write_text(disk.read_text() + "\n## Zanzibar check\nLook for zanzibar-widget logs.\n")
    assert await runtime.pipeline.refresh_runbooks(utcnow())
    found = runbooks.search("zanzibar widget logs", 1)
    assert found and found[0].runbook_id == "disk-full"

    (settings.runbook_dir / "broken.md").write_text("---\nid: broken\ncategories: [nope]\n---\n")
    assert not await runtime.pipeline.refresh_runbooks(utcnow())
    assert runbooks.problem is not None and "broken.md" in runbooks.problem
    assert runbooks.search("zanzibar widget logs", 1)[0].runbook_id == "disk-full"
    await runtime.store.close()
