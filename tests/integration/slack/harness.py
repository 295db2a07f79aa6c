"""Run `incident-bot serve` as a real process and talk to it the way Slack does (signed)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.policies import unfrozen_policy_dir

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-test-token"
INCIDENT_CHANNEL = "C0INCIDENTS"
ALERT_CHANNEL = "C0ALERTS01"
PROJECT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sign(body: bytes, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    """Slack's v0 request signature."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Answer:
    status: int
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


def http(url: str, body: bytes | None, headers: dict[str, str], method: str = "POST") -> Answer:
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Answer(response.status, response.read(), time.perf_counter() - started)
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read(), time.perf_counter() - started)


class BotProcess:
    """`incident-bot serve` on a free loopback port with its own SQLite file."""

    def __init__(self, workdir: Path, env: dict[str, str], socket_mode: bool = False) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.env = env
        self.socket_mode = socket_mode
        self.log_path = workdir / "bot.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready: bool = True) -> BotProcess:
        argv = [sys.executable, "-m", "bot.cli", "serve", "--port", str(self.port)]
        if self.socket_mode:
            argv.append("--socket-mode")
        env = {**os.environ, **self.env, "PYTHONPATH": str(PROJECT)}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                argv, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        if wait_ready:
            self._wait_healthy()
        return self

    def _wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"bot exited early:\n{self.log()}")
            try:
                if http(f"{self.url}/healthz", None, {}, "GET").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"bot not healthy in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    # talking to it -------------------------------------------------------------------------
    def signed(
        self,
        body: bytes,
        content_type: str,
        timestamp: int | None = None,
        secret: str = SIGNING_SECRET,
    ) -> Answer:
        ts = int(time.time()) if timestamp is None else timestamp
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": sign(body, ts, secret),
        }
        return http(f"{self.url}/slack/events", body, headers)

    def command(
        self, text: str, user: str = "U0ONCALL01", channel: str = "C0WARROOM1", hook: str = "cmd"
    ) -> Answer:
        form = {
            "token": "unused",
            "team_id": "T0TEST0001",
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": "war-room",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/incident",
            "text": text,
            "api_app_id": "A0TEST0001",
            "response_url": f"{self.env['RECORDER_URL']}/response/{hook}",
            "trigger_id": "1337.42.abcd",
        }
        return self.signed(urlencode(form).encode(), "application/x-www-form-urlencoded")

    def block_action(
        self, action: dict[str, Any], user: str, channel: str, message_ts: str, hook: str
    ) -> Answer:
        """A signed block_actions payload as Slack sends it for one element of a message."""
        payload = {
            "type": "block_actions",
            "team": {"id": "T0TEST0001", "domain": "test"},
            "user": {"id": user, "username": user.lower(), "team_id": "T0TEST0001"},
            "api_app_id": "A0TEST0001",
            "token": "unused",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
            "trigger_id": "1337.42.abcd",
            "channel": {"id": channel, "name": "incidents"},
            "message": {"type": "message", "ts": message_ts, "text": "card"},
            "response_url": f"{self.env['RECORDER_URL']}/response/{hook}",
            "actions": [{**action, "action_ts": str(time.time())}],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.signed(body, "application/x-www-form-urlencoded")

    def click(
        self,
        action_id: str,
        value: str,
        user: str,
        channel: str = INCIDENT_CHANNEL,
        message_ts: str = "1.000001",
        block_id: str = "b",
    ) -> Answer:
        """A button pressed: ``actions[0].value``."""
        button = {
            "type": "button",
            "action_id": action_id,
            "block_id": block_id,
            "text": {"type": "plain_text", "text": "x"},
            "value": value,
        }
        return self.block_action(button, user, channel, message_ts, "click")

    def choose(
        self,
        action_id: str,
        value: str,
        user: str,
        channel: str,
        message_ts: str,
        block_id: str,
    ) -> Answer:
        """A choice in a message's static_select menu: ``actions[0].selected_option``."""
        option = {"text": {"type": "plain_text", "text": value}, "value": value}
        menu = {
            "type": "static_select",
            "action_id": action_id,
            "block_id": block_id,
            "selected_option": option,
        }
        return self.block_action(menu, user, channel, message_ts, "choose")

    def pick_user(
        self, action_id: str, picked: str, user: str, channel: str, message_ts: str, block_id: str
    ) -> Answer:
        """A person picked in a message's users_select menu: ``actions[0].selected_user``."""
        menu = {
            "type": "users_select",
            "action_id": action_id,
            "block_id": block_id,
            "selected_user": picked,
        }
        return self.block_action(menu, user, channel, message_ts, "pick")

    def view_submission(
        self, callback_id: str, private_metadata: str, values: dict[str, Any], user: str
    ) -> Answer:
        """A modal's submission as Slack sends it: ``view.state.values[block][action]``."""
        payload = {
            "type": "view_submission",
            "team": {"id": "T0TEST0001", "domain": "test"},
            "user": {"id": user, "username": user.lower(), "team_id": "T0TEST0001"},
            "api_app_id": "A0TEST0001",
            "token": "unused",
            "trigger_id": "1337.43.abcd",
            "view": {
                "id": "V0000000001",
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": private_metadata,
                "state": {"values": values},
                "hash": "1.abc",
            },
            "response_urls": [],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.signed(body, "application/x-www-form-urlencoded")

    def event(self, event: dict[str, Any]) -> Answer:
        envelope = {
            "token": "unused",
            "team_id": "T0TEST0001",
            "api_app_id": "A0TEST0001",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
        }
        return self.signed(json.dumps(envelope).encode(), "application/json")

    def alert(self, source: str, payload: Any) -> Answer:
        body = json.dumps(payload).encode()
        return http(f"{self.url}/alerts/{source}", body, {"Content-Type": "application/json"})


def bot_env(workdir: Path, recorder_url: str, **overrides: str) -> dict[str, str]:
    """Environment for one bot process: loopback Slack and model, temp SQLite, fast sweeps."""
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": f"{recorder_url}/api/",
        "SLACK_INCIDENT_CHANNEL": INCIDENT_CHANNEL,
        "SLACK_ALERT_CHANNELS": ALERT_CHANNEL,
        "SQLITE_PATH": str(workdir / "bot.db"),
        "RUNBOOK_INDEX_PATH": str(workdir / "runbooks.db"),
        "RUNBOOK_EMBEDDINGS": "none",
        "POLICY_DIR": str(unfrozen_policy_dir(workdir / "policies")),
        "LLM_PROVIDER": "openai",
        "OPENAI_BASE_URL": f"{recorder_url}/v1",
        "OPENAI_API_KEY": "sk-test",
        "LLM_MAX_RETRIES": "0",
        "LOG_LEVEL": "INFO",
        "RECORDER_URL": recorder_url,
        # BotProcess.alert posts without a token: these tests exercise Slack, not webhook auth.
        "ALERT_WEBHOOK_ALLOW_UNAUTHENTICATED": "true",
    }
    env.update(overrides)
    return env
