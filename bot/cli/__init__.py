"""The ``incident-bot`` command line: serve, demo, ingest, triage, incidents, timeline, ..."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from bot import __version__, logs
from bot.cli import accuracy, audit, incidents, policy, runbooks
from bot.cli import eval as evaluation
from bot.compose import Root
from bot.errors import BotError, ConfigError

log = logging.getLogger(__name__)

# Command groups, each adding its subcommands through register(subparsers).
COMMAND_MODULES = (incidents, policy, runbooks, audit, evaluation, accuracy)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="incident-bot",
        description="ChatOps incident response: ingest alerts, triage, propose governed actions.",
    )
    parser.add_argument("--version", action="version", version=f"incident-bot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        root = Root()
        logs.configure(root.log_level, root.redactor().redact)
        return int(args.handler(args, root))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
