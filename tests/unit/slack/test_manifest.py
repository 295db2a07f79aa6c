"""The shipped Slack app manifest matches what the code listens on and calls."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from bot.slack.action_ids import DECLARE_SHORTCUT
from bot.slack.commands import COMMAND
from bot.slack.messages import SUBCOMMANDS
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
        "usergroups:read",
        "users:read",
        "channels:manage",
    }
    assert needed <= scopes


def test_the_usage_hint_names_every_option_the_parser_reads() -> None:
    hint = yaml.safe_load(MANIFEST.read_text())["features"]["slash_commands"][0]["usage_hint"]
    for option in ("--service", "--channel"):
        assert option in hint
    # Every subcommand the help text lists, each as the first word of one ``|`` part.
    named = {part.split()[0] for part in hint.split("|")}
    assert set(SUBCOMMANDS) <= named
    for subcommand in ("ack", "assign", "severity", "update", "note"):
        assert subcommand in named
    # Slack shows the hint in the composer; it must stay within its 1,000 characters.
    assert len(hint) <= 1000


# What each Web API method the bot calls needs from a bot token (Slack's method reference,
# "Required scopes"). The bot creates public channels only, so conversations.* need
# channels:manage (groups:write would be for private ones). chat:write.public lets
# chat.postMessage reach a configured public channel the bot was never invited to.
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "chat.postMessage": frozenset({"chat:write", "chat:write.public"}),
    "chat.update": frozenset({"chat:write"}),
    "chat.postEphemeral": frozenset({"chat:write"}),
    "conversations.create": frozenset({"channels:manage"}),
    "conversations.invite": frozenset({"channels:manage"}),
    "pins.add": frozenset({"pins:write"}),
    "usergroups.users.list": frozenset({"usergroups:read"}),
    "users.info": frozenset({"users:read"}),
    "views.open": frozenset(),
    "views.publish": frozenset(),
    "files.getUploadURLExternal": frozenset({"files:write"}),
    "files.completeUploadExternal": frozenset({"files:write"}),
    "auth.test": frozenset(),
}
# What each subscribed event needs (Slack's event reference, "Required scopes").
EVENT_SCOPES: dict[str, frozenset[str]] = {
    "message.channels": frozenset({"channels:history"}),
    "message.groups": frozenset({"groups:history"}),
    "pin_added": frozenset({"pins:read"}),
    "app_home_opened": frozenset(),
}
SLACK_SOURCES = Path(__file__).resolve().parents[3] / "bot" / "slack"
# A dotted string naming a Web API method of a family the bot could call.
METHOD_NAME = re.compile(
    r"(auth|chat|conversations|files|pins|reactions|usergroups|users|views)\.[A-Za-z.]+"
)
CLIENT_NAMES = frozenset({"client", "_client"})


def methods_the_code_calls() -> set[str]:
    """Every Web API method named in bot/slack: the method strings handed to api_call (often
    through a variable or Outbox._call) and slack_sdk's snake_case client methods
    (``client.users_info(`` is users.info)."""
    found: set[str] = set()
    for source in sorted(SLACK_SOURCES.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if METHOD_NAME.fullmatch(node.value):
                    found.add(node.value)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
                if name in CLIENT_NAMES and node.func.attr != "api_call":
                    found.add(node.func.attr.replace("_", "."))
    return found


def events_the_code_listens_to() -> set[str]:
    """Event types passed to Bolt's ``app.event(...)`` in bot/slack."""
    found: set[str] = set()
    for source in sorted(SLACK_SOURCES.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "event"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.add(str(node.args[0].value))
    return found


def test_the_scan_sees_every_kind_of_call() -> None:
    called = methods_the_code_calls()
    # api_call through a variable, Outbox._call, and a snake_case client method
    assert {"chat.postMessage", "pins.add", "usergroups.users.list", "auth.test"} <= called


def test_every_method_the_code_calls_has_its_scopes_known() -> None:
    # A new call must be added to METHOD_SCOPES (and its scope to the manifest); a method
    # nothing calls any more must leave it.
    assert methods_the_code_calls() == set(METHOD_SCOPES)


def test_the_manifest_subscribes_to_exactly_the_events_the_code_handles() -> None:
    events = yaml.safe_load(MANIFEST.read_text())["settings"]["event_subscriptions"]["bot_events"]
    assert set(events) == set(EVENT_SCOPES)
    # Slack delivers message.channels and message.groups as the one "message" event.
    assert {e.split(".")[0] for e in events} == events_the_code_listens_to()


def test_manifest_asks_for_exactly_the_scopes_the_code_uses() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    features = manifest["features"]
    # Slash commands and shortcuts both need the commands scope.
    needed = {"commands"} if features["slash_commands"] or features.get("shortcuts") else set()
    for method in methods_the_code_calls():
        needed |= METHOD_SCOPES[method]
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        needed |= EVENT_SCOPES[event]
    assert len(scopes) == len(set(scopes))
    assert set(scopes) == needed
    assert "channels:read" not in scopes and "groups:read" not in scopes


def shortcuts_the_code_listens_to() -> int:
    """How many ``app.shortcut(...)`` listeners bot/slack attaches."""
    found = 0
    for source in sorted(SLACK_SOURCES.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "shortcut"
            ):
                found += 1
    return found


def test_manifest_declares_the_shortcut_the_code_listens_to() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    shortcuts = manifest["features"]["shortcuts"]
    assert [(s["type"], s["callback_id"]) for s in shortcuts] == [("global", DECLARE_SHORTCUT)]
    assert len(shortcuts) == shortcuts_the_code_listens_to()
    # Shortcuts and modal submissions arrive as interactivity payloads, on the one endpoint.
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"].endswith(EVENTS_PATH)
    assert all(s["name"] and s["description"] for s in shortcuts)


def test_manifest_declares_the_home_tab_the_code_publishes() -> None:
    app_home = yaml.safe_load(MANIFEST.read_text())["features"]["app_home"]
    assert "views.publish" in methods_the_code_calls()
    assert app_home["home_tab_enabled"] is True


def test_the_slack_stand_in_implements_every_method_the_code_calls() -> None:
    # The integration tests' stand-in answers unknown_method for anything it does not
    # implement; a method the bot starts calling must be served there too (Socket Mode's
    # apps.connections.open is called by slack_sdk itself, not named in bot/slack).
    from tests.integration.slack.recorder import WEB_API_METHODS

    assert methods_the_code_calls() <= WEB_API_METHODS
    assert WEB_API_METHODS - methods_the_code_calls() == {"apps.connections.open"}
