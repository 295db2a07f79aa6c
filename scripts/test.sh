#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then lint, type-check and test.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

need_debs=()
command -v prometheus-alertmanager >/dev/null || need_debs+=(prometheus-alertmanager)
# prometheus: promtool checks the alert rules; the server itself backs the evidence tests.
{ command -v promtool >/dev/null && command -v prometheus >/dev/null; } || need_debs+=(prometheus)
if [ ${#need_debs[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${need_debs[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_debs[@]}" >/dev/null
fi

if [ -f tests/integration/cosmos/package.json ] && [ ! -d tests/integration/cosmos/node_modules ]; then
  echo "== installing the Cosmos DB protocol server (npm)"
  (cd tests/integration/cosmos && npm install --no-audit --no-fund --loglevel=error)
fi

echo "== installing Python packages"
[ -x .venv/bin/python ] || python3 -m venv .venv
# No torch: runbook search embeds with the static model shipped in bot/data/models. Rebuilding
# that model (scripts/build_static_model.py, and the test comparing a rebuild with it) needs
# `pip install torch==2.13.0 && pip install -e '.[embeddings]'`; without them that test skips.
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

echo "== runbook index (hybrid, with the shipped embedding model)"
.venv/bin/incident-bot runbooks index

echo "== ruff"
.venv/bin/ruff check bot tests benchmarks
echo "== mypy"
.venv/bin/mypy bot
echo "== pytest"
.venv/bin/pytest -q -p no:cacheprovider "$@"
