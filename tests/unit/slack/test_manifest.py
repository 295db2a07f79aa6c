"""The shipped Slack app manifest matches what the code listens on and calls."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.slack.commands import COMMAND
from bot.slack.wiring import EVENTS_PATH

MANIFEST = Path(__file__).resolve().parents[3] / "slack" / "manifest.yaml"


def test_manifest_routes_everything_to_the_one_events_endpoint() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == [COMMAND]
    settings = manifest["settings"]
    urls = [
        commands[0]["url"],
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
    ]
    assert all(url.endswith(EVENTS_PATH) for url in urls)
    assert settings["interactivity"]["is_enabled"] is True
    assert {"message.channels", "message.groups"} <= set(
        settings["event_subscriptions"]["bot_events"]
    )


def test_manifest_grants_the_scopes_the_bot_uses() -> None:
    scopes = set(yaml.safe_load(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"])
    needed = {
        "commands",
        "chat:write",
        "chat:write.public",
        "channels:history",
        "groups:history",
        "channels:read",
        "usergroups:read",
        "users:read",
        "channels:manage",
    }
    assert needed <= scopes


def test_the_usage_hint_names_every_option_the_parser_reads() -> None:
    hint = yaml.safe_load(MANIFEST.read_text())["features"]["slash_commands"][0]["usage_hint"]
    for option in ("--service", "--channel"):
        assert option in hint
    # Slack shows the hint in the composer; it must stay within its 1,000 characters.
    assert len(hint) <= 1000
