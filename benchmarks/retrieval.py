"""Runbook retrieval benchmark: recall@3 and MRR on labelled alerts, BM25 alone vs hybrid,
the share of alerts whose cited runbook fits the alert's category (plain search; the search
after triage with the triaged category as a hard filter with fallback, as it was; and with the
triaged category as a rank boost, as the pipeline cites now), and
p50/the same cited fit on the held-back triage split (alerts labelled with a category only), and
p99 query latency on a 20-chunk and a 2,000-chunk corpus.

Run: .venv/bin/python -m benchmarks.retrieval [--model-dir var/models] [--repeat 5] [--show-misses]
Hybrid uses the static model shipped in bot/data/models; if it cannot be loaded, only the BM25
rows are printed.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.report import figure  # noqa: E402
from bot.models import Alert, Category, Incident, RunbookChunk  # noqa: E402
from bot.pipeline.triaging import search_runbooks  # noqa: E402
from bot.retrieval import LocalRunbookIndex, Runbook, chunk_runbook, load_runbooks  # noqa: E402
from bot.retrieval.embedders import Embedder, load_embedder  # noqa: E402
from bot.triage.evaluation import EVAL_NOW, load_cases, to_incident  # noqa: E402
from bot.triage.rules import RulesEngine  # noqa: E402

KEYWORDS = ROOT / "bot" / "triage" / "keywords.yaml"

QUERIES = ROOT / "tests" / "data" / "retrieval_queries.jsonl"
HELDOUT = ROOT / "tests" / "data" / "triage_eval_heldout.jsonl"
SERVICES = [
    "payment-gateway",
    "auth-service",
    "checkout",
    "cart-service",
    "search-api",
    "inventory",
    "notifications",
    "recommendations",
    "web-frontend",
    "batch-reports",
]


def load_queries() -> list[dict[str, str]]:
    """The labelled alert texts."""
    return [json.loads(line) for line in QUERIES.read_text().splitlines() if line.strip()]


def distinct_runbooks(index: LocalRunbookIndex, query: dict[str, str]) -> list[str]:
    """Runbook ids in the order their first chunk appears in the results."""
    chunks = index.search(query["query"], 12, service=query.get("service"))
    ranked: list[str] = []
    for chunk in chunks:
        if chunk.runbook_id not in ranked:
            ranked.append(chunk.runbook_id)
    return ranked


def quality(
    index: LocalRunbookIndex, queries: list[dict[str, str]]
) -> tuple[float, float, list[str]]:
    """recall@3, MRR and the queries whose runbook was not in the top 3."""
    hits, reciprocal, misses = 0, 0.0, []
    for query in queries:
        ranked = distinct_runbooks(index, query)
        expected = query["runbook_id"]
        if expected in ranked[:3]:
            hits += 1
        else:
            misses.append(f"{expected} <- {query['query'][:70]} (got {ranked[:3]})")
        if expected in ranked:
            reciprocal += 1.0 / (ranked.index(expected) + 1)
    return hits / len(queries), reciprocal / len(queries), misses


def triaged_category(engine: RulesEngine, query: dict[str, str]) -> Category:
    """The offline rules engine's category for the alert text (the default install's)."""
    service = query.get("service") or "unknown"
    alert = Alert(
        source="generic",
        title=query["query"],
        service=service,
        starts_at=EVAL_NOW,
        received_at=EVAL_NOW,
        fingerprint="bench",
        group_key="bench",
    )
    incident = Incident(
        title=query["query"], service=service, created_at=EVAL_NOW, updated_at=EVAL_NOW
    )
    return engine.classify(incident, [alert]).category


def filtered_search(
    index: LocalRunbookIndex, query: str, k: int, service: str, category: Category
) -> list[RunbookChunk]:
    """The search after triage as it was before the boost: a hard filter on the triaged
    category, falling back to every category when none matches (kept here to compare)."""
    if category is not Category.UNKNOWN:
        fitting = index.search(query, k, service=service or None, category=category.value)
        if fitting:
            return fitting
    return index.search(query, k, service=service or None)


def category_fit(
    index: LocalRunbookIndex, runbooks: list[Runbook], queries: list[dict[str, str]]
) -> tuple[float, float, float]:
    """Share of alerts whose first cited runbook lists the alert's category: plain search,
    the triaged category as a hard filter with fallback (before), and as a rank boost (what
    the pipeline cites now)."""
    engine = RulesEngine.from_file(KEYWORDS)
    categories = {r.id: set(r.categories) for r in runbooks}

    def fits(chunks: list[RunbookChunk], query: dict[str, str]) -> bool:
        return bool(chunks) and query["category"] in categories[chunks[0].runbook_id]

    plain = filtered = boosted = 0
    for query in queries:
        service = query.get("service") or ""
        decided = triaged_category(engine, query)
        plain += fits(index.search(query["query"], 4, service=service or None), query)
        filtered += fits(filtered_search(index, query["query"], 4, service, decided), query)
        boosted += fits(search_runbooks(index, query["query"], 4, service, decided), query)
    return plain / len(queries), filtered / len(queries), boosted / len(queries)


def triage_split_fit(
    index: LocalRunbookIndex, runbooks: list[Runbook], path: Path
) -> tuple[float, float]:
    """On a labelled triage split (alerts with a category, no runbook label): the share whose
    first runbook lists the expected category, plain search and as the pipeline cites (the
    rules engine's category as a boost), with the query the pipeline builds."""
    engine = RulesEngine.from_file(KEYWORDS)
    categories = {r.id: set(r.categories) for r in runbooks}
    cases = load_cases(path)
    plain = cited = 0
    for case in cases:
        incident, alerts = to_incident(case)
        query = " ".join([incident.title, *(f"{a.title} {a.description}" for a in alerts[:5])])
        decided = engine.classify(incident, alerts).category
        for count, chunks in enumerate(
            (
                index.search(query[:2000], 4, service=incident.service or None)
                or index.search(query[:2000], 4),
                search_runbooks(index, query[:2000], 4, incident.service, decided),
            )
        ):
            fits = bool(chunks) and str(case.category) in categories[chunks[0].runbook_id]
            if count == 0:
                plain += fits
            else:
                cited += fits
    return plain / len(cases), cited / len(cases)


def synthetic_corpus(runbooks: list[Runbook], target_chunks: int, seed: int = 7) -> list[Runbook]:
    """Copies of the shipped runbooks with new ids, services and shuffled lines."""
    rng = random.Random(seed)
    per_copy = sum(len(chunk_runbook(r)) for r in runbooks)
    corpus = list(runbooks)
    copy = 0
    while sum(len(chunk_runbook(r)) for r in corpus) < target_chunks and per_copy:
        copy += 1
        for runbook in runbooks:
            lines = runbook.body.splitlines()
            body_lines = [ln for ln in lines if not ln.startswith("#")]
            rng.shuffle(body_lines)
            it = iter(body_lines)
            body = "\n".join(ln if ln.startswith("#") else next(it) for ln in lines)
            corpus.append(
                runbook.model_copy(
                    update={
                        "id": f"{runbook.id}-copy{copy}",
                        "services": [rng.choice(SERVICES)],
                        "body": body,
                        "sha256": f"{runbook.sha256}-{copy}",
                    }
                )
            )
    return corpus


def truncate(runbooks: list[Runbook], target_chunks: int) -> list[Runbook]:
    """The first runbooks whose chunks add up to about ``target_chunks``."""
    taken: list[Runbook] = []
    count = 0
    for runbook in runbooks:
        if count >= target_chunks:
            break
        taken.append(runbook)
        count += len(chunk_runbook(runbook))
    return taken


def latency(
    runbooks: list[Runbook], embedder: Embedder | None, queries: list[dict[str, str]], repeat: int
) -> tuple[int, float, float]:
    """(chunks, p50 ms, p99 ms) over every query ``repeat`` times, after one warm-up pass."""
    with tempfile.TemporaryDirectory() as tmp:
        index = LocalRunbookIndex(Path(tmp) / "bench.db", embedder)
        stats = index.index(runbooks)
        for query in queries:
            index.search(query["query"], 4, service=query.get("service"))
        timings = []
        for _ in range(repeat):
            for query in queries:
                start = time.perf_counter()
                index.search(query["query"], 4, service=query.get("service"))
                timings.append((time.perf_counter() - start) * 1000)
        index.close()
    timings.sort()
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    return stats.chunks, statistics.median(timings), p99


def _report(
    quality_rows: dict[str, tuple[float, float]], p99: dict[tuple[str, int], float]
) -> None:
    """Machine-readable figures for benchmarks.run_all: hybrid against BM25 alone."""
    bm25_recall, bm25_mrr = quality_rows["bm25 only"]
    mode = "hybrid" if "hybrid" in quality_rows else "bm25 only"
    recall, mrr = quality_rows[mode]
    figure(
        f"recall@3 ({mode})",
        recall,
        "ratio",
        baseline=bm25_recall,
        target=">= 0.9 and >= bm25",
        met=mode == "hybrid" and recall >= 0.9 and recall >= bm25_recall,
    )
    figure(f"MRR ({mode})", mrr, "ratio", baseline=bm25_mrr)
    for size in sorted({size for _, size in p99}):
        met = p99[(mode, size)] <= 20.0 if size >= 2000 else None
        figure(
            f"p99 query, {size} chunks ({mode})",
            p99[(mode, size)],
            "ms",
            baseline=p99[("bm25 only", size)],
            target="<= 20 ms" if size >= 2000 else "",
            met=met,
        )


def main() -> int:
    """Print the quality and latency tables, then the figures for run_all."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "var" / "models")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()

    runbooks = load_runbooks(ROOT / "runbooks")
    queries = load_queries()
    embedder = load_embedder("auto", args.model_dir)
    modes: list[tuple[str, Embedder | None]] = [("bm25 only", None)]
    if embedder is not None:
        modes.append(("hybrid", embedder))
    else:
        print("embeddings unavailable: hybrid rows skipped", file=sys.stderr)

    print(f"{len(runbooks)} runbooks, {len(queries)} labelled queries (service filter applied)\n")
    print(
        f"{'mode':<10} {'recall@3':>9} {'MRR':>7} {'fit plain':>10} {'fit filter':>11}"
        f" {'fit boost':>10}"
    )
    quality_rows: dict[str, tuple[float, float]] = {}
    fit_rows: dict[str, tuple[float, float, float]] = {}
    heldout_rows: dict[str, tuple[float, float]] = {}
    for name, model in modes:
        with tempfile.TemporaryDirectory() as tmp:
            index = LocalRunbookIndex(Path(tmp) / "q.db", model)
            index.index(runbooks)
            recall, mrr, misses = quality(index, queries)
            fit_rows[name] = category_fit(index, runbooks, queries)
            heldout_rows[name] = triage_split_fit(index, runbooks, HELDOUT)
            index.close()
        quality_rows[name] = (recall, mrr)
        plain_fit, filter_fit, cited_fit = fit_rows[name]
        print(
            f"{name:<10} {recall:>9.3f} {mrr:>7.3f} {plain_fit:>10.3f} {filter_fit:>11.3f}"
            f" {cited_fit:>10.3f}"
        )
        if args.show_misses:
            for miss in misses:
                print(f"    miss: {miss}")

    print(f"\nheld-back triage split ({HELDOUT.name}): first runbook lists the expected category")
    print(f"{'mode':<10} {'plain':>7} {'cited':>7}")
    for name, (plain_fit, cited_fit) in heldout_rows.items():
        print(f"{name:<10} {plain_fit:>7.3f} {cited_fit:>7.3f}")

    small = truncate(runbooks, 20)
    large = synthetic_corpus(runbooks, 2000)
    print(
        f"\n{'mode':<10} {'chunks':>7} {'p50 ms':>8} {'p99 ms':>8}"
        f"   ({args.repeat}x{len(queries)} queries)"
    )
    p99_rows: dict[tuple[str, int], float] = {}
    for name, model in modes:
        for target, corpus in ((20, small), (2000, large)):
            chunks, p50, p99 = latency(corpus, model, queries, args.repeat)
            p99_rows[(name, target)] = p99
            print(f"{name:<10} {chunks:>7} {p50:>8.2f} {p99:>8.2f}")
    print()
    _report(quality_rows, p99_rows)
    for name, (plain_fit, _, cited_fit) in fit_rows.items():
        figure(
            f"cited runbook fits the category ({name})",
            cited_fit,
            "fraction",
            baseline=plain_fit,
            target=">= 0.9" if name == "bm25 only" else "",
            met=cited_fit >= 0.9 if name == "bm25 only" else None,
        )
    for name, (plain_fit, cited_fit) in heldout_rows.items():
        figure(
            f"cited runbook fits the category, held-back triage split ({name})",
            cited_fit,
            "fraction",
            baseline=plain_fit,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
