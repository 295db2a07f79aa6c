"""Heading-based chunking of runbooks."""

from __future__ import annotations

from bot.retrieval import Runbook, chunk_runbook

BODY = """# Disk full

Intro paragraph that explains the runbook.

## Symptoms
- No space left on device

## Checks
```bash
# this comment is not a heading
df -h
```

## Empty

## Checks
second checks section
"""


def _runbook(body: str = BODY) -> Runbook:
    return Runbook(
        id="disk-full",
        title="Disk full",
        services=["*"],
        categories=["resource_exhaustion"],
        actions=["notify_oncall"],
        version="1.2.0",
        owner="sre",
        body=body,
        path="runbooks/disk-full.md",
    )


def test_chunks_follow_headings_and_skip_code_comments_and_empty_sections() -> None:
    chunks = chunk_runbook(_runbook())
    assert [c.section for c in chunks] == ["Overview", "Symptoms", "Checks", "Checks"]
    assert [c.chunk_id for c in chunks] == [
        "disk-full--overview",
        "disk-full--symptoms",
        "disk-full--checks",
        "disk-full--checks-2",
    ]
    assert "# this comment is not a heading" in chunks[2].text
    assert chunks[0].text == "Intro paragraph that explains the runbook."


def test_chunks_carry_the_runbook_metadata_and_cite_its_version() -> None:
    chunk = chunk_runbook(_runbook())[1]
    assert (chunk.runbook_id, chunk.version, chunk.title) == ("disk-full", "1.2.0", "Disk full")
    assert chunk.services == ["*"]
    assert chunk.categories == ["resource_exhaustion"]
    assert chunk.path == "runbooks/disk-full.md"
    ref = chunk.ref()
    assert (ref.id, ref.version, ref.section) == ("disk-full", "1.2.0", "Symptoms")


def test_a_body_without_headings_is_one_overview_chunk() -> None:
    chunks = chunk_runbook(_runbook("just text\n"))
    assert [(c.section, c.text) for c in chunks] == [("Overview", "just text")]
