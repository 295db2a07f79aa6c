"""Run the npm Cosmos DB protocol server (@vercel/cosmosdb-server) on loopback over HTTPS.

Differences from real Cosmos DB that the store and these tests live with:
- a point read of a missing item answers 500 (not 404); bot/store/cosmos_wire.is_missing
  recognises that one message, real Cosmos takes the plain 404 path;
- a single-partition query must name the partition key in its WHERE clause (the store's
  queries always do, which is also what real Cosmos wants);
- no GROUP BY, OFFSET/LIMIT, transactional batch or TTL (the store uses none of them);
- throughput settings and indexing policies are accepted but not enforced, so 429s never
  happen here (throttling retries are tested directly against SDK errors).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.tls import self_signed_certificate

HERE = Path(__file__).resolve().parent
LAUNCHER = HERE / "server.js"
PACKAGE = HERE / "node_modules" / "@vercel" / "cosmosdb-server"
# The documented, public key of the Cosmos DB emulator; the protocol server accepts any
# base64 key, and the SDK insists on one.
EMULATOR_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)
START_TIMEOUT = 20.0


@dataclass
class CosmosServer:
    """A running protocol server: where it listens and the key clients sign with."""

    endpoint: str
    key: str = EMULATOR_KEY

    def new_database(self) -> str:
        """A fresh database name, so each test starts empty."""
        return f"t{uuid.uuid4().hex[:12]}"


def unavailable(reason: str) -> None:
    """Fail under CI=true (the component must be there), skip otherwise."""
    message = f"Cosmos DB protocol server unavailable: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _await_port(proc: subprocess.Popen[str], log_path: Path) -> int:
    """Read the launcher's "listening PORT" line, or raise when it dies or stalls."""
    found: list[int] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("listening "):
                found.append(int(line.split()[1]))
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    if not found:
        proc.kill()
        err = log_path.read_text(errors="replace")
        raise RuntimeError(f"cosmosdb-server did not start: {err.strip()[:500]}")
    return found[0]


@contextmanager
def running_server(folder: Path) -> Iterator[CosmosServer]:
    """Start the protocol server on a free loopback port; stop it on exit."""
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed (bash scripts/test.sh needs nodejs and npm)")
    if not PACKAGE.is_dir():
        unavailable(f"npm package missing: run `npm install` in {HERE}")
    cert, key = self_signed_certificate(folder)
    log_path = folder / "cosmosdb-server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(node), str(LAUNCHER), str(cert), str(key), "0"],
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        port = _await_port(proc, log_path)
        yield CosmosServer(endpoint=f"https://127.0.0.1:{port}/")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
