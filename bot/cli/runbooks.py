"""``incident-bot runbooks index | search | check``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from bot.compose import Root
from bot.models import Category
from bot.retrieval import check_runbooks

BAR_WIDTH = 30


def progress_bar(label: str) -> Callable[[int, int], None]:
    """A progress callback drawing a one-line bar on stderr."""

    def draw(done: int, total: int) -> None:
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        end = "\n" if done >= total else ""
        print(f"\r{label} [{bar}] {done}/{total}", end=end, file=sys.stderr, flush=True)

    return draw


def cmd_index(args: argparse.Namespace, root: Root) -> int:
    """Index the runbooks (only if they changed, unless --force)."""
    _, stats = root.runbook_index(progress_bar("indexing runbooks"), rebuild=args.force)
    state = "rebuilt" if stats.rebuilt else "up to date"
    print(
        f"{stats.backend} index {state}: {stats.runbooks} runbooks, {stats.chunks} chunks, "
        f"mode: {stats.mode}" + (f" ({stats.embedder})" if stats.embedder else "")
    )
    return 0


def cmd_search(args: argparse.Namespace, root: Root) -> int:
    """Search the runbooks and print the best chunks."""
    index, _ = root.runbook_index()
    chunks = index.search(args.query, args.k, service=args.service, category=args.category)
    if args.json:
        payload = {"mode": index.mode, "results": [c.model_dump(mode="json") for c in chunks]}
        print(json.dumps(payload, indent=2))
        return 0
    print(f"mode: {index.mode}")
    if not chunks:
        print("no matching runbook")
    for rank, chunk in enumerate(chunks, start=1):
        first_line = chunk.text.strip().splitlines()[0] if chunk.text.strip() else ""
        print(
            f"{rank}. {chunk.runbook_id}@{chunk.version} § {chunk.section}  score={chunk.score:.4f}"
        )
        print(f"   {chunk.title} ({chunk.path})")
        print(f"   {first_line[:100]}")
    return 0


def cmd_check(args: argparse.Namespace, root: Root) -> int:
    """Validate every runbook's front matter; non-zero when any is invalid."""
    runbooks, problems = check_runbooks(root.runbook_dir)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(runbooks)} runbooks valid, {len(problems)} problems")
    return 1 if problems else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``runbooks`` command group."""
    runbooks = subparsers.add_parser("runbooks", help="index, search and check runbooks")
    sub = runbooks.add_subparsers(dest="runbooks_command", required=True)

    index = sub.add_parser("index", help="(re)build the runbook index")
    index.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    index.set_defaults(handler=cmd_index)

    search = sub.add_parser("search", help="search runbooks for an alert text")
    search.add_argument("query", help="alert text or question")
    search.add_argument("--k", type=int, default=4, help="number of chunks (default 4)")
    search.add_argument("--service", help="only runbooks for this service (or any service)")
    search.add_argument("--category", choices=[c.value for c in Category])
    search.add_argument("--json", action="store_true", help="print JSON")
    search.set_defaults(handler=cmd_search)

    check = sub.add_parser("check", help="validate runbook front matter")
    check.set_defaults(handler=cmd_check)
