"""The HTTP edge fails closed: bounded bodies, read deadlines, signatures before parsing.

One real `incident-bot serve` process (Slack on, against the loopback recorder) is driven over
raw sockets where the test needs control of how the body arrives.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.slack.harness import (
    PROJECT,
    Answer,
    BotProcess,
    bot_env,
    free_port,
    http,
    sign,
)
from tests.integration.slack.recorder import SlackRecorder

pytestmark = pytest.mark.integration

TOKEN = "guard-webhook-token"
PAGERDUTY_SECRET = "pd-signing-secret"
BODY_CAP = 64 * 1024
READ_TIMEOUT = 1.5
NEVER = {500, 502, 503, 504}
PAGERDUTY_EVENT = {
    "event": {
        "id": "01DEN4HPBQAAAG05V5QQYBRZMF",
        "event_type": "incident.triggered",
        "occurred_at": "2026-11-24T08:00:00.000Z",
        "data": {
            "id": "PGR0VU2",
            "type": "incident",
            "title": "checkout is down",
            "status": "triggered",
            "service": {"id": "PF9KMXH", "summary": "checkout"},
            "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
            "created_at": "2026-11-24T08:00:00Z",
        },
    }
}


@pytest.fixture(scope="module")
def recorder() -> Iterator[SlackRecorder]:
    rec = SlackRecorder().start()
    yield rec
    rec.stop()


@pytest.fixture(scope="module")
def bot(recorder: SlackRecorder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    workdir: Path = tmp_path_factory.mktemp("guard")
    env = bot_env(
        workdir,
        recorder.url,
        ALERT_WEBHOOK_TOKEN=TOKEN,
        ALERT_WEBHOOK_ALLOW_UNAUTHENTICATED="false",
        PAGERDUTY_SIGNING_SECRET=PAGERDUTY_SECRET,
        ALERT_MAX_BODY_BYTES=str(BODY_CAP),
        SLACK_MAX_BODY_BYTES=str(BODY_CAP),
        WEBHOOK_READ_TIMEOUT_SECONDS=str(READ_TIMEOUT),
        LLM_PROVIDER="rules",
    )
    process = BotProcess(workdir, env).start()
    yield process
    process.stop()


# --- raw HTTP over a socket, reading the answer while the body is still being sent -----------


class RawExchange:
    """One request whose body we feed by hand; a reader thread collects the answer meanwhile."""

    def __init__(self, port: int, head: bytes) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.answer = bytearray()
        self.done = threading.Event()
        self.sent = 0
        self.started = time.monotonic()
        self.sock.sendall(head)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while chunk := self.sock.recv(65536):
                self.answer.extend(chunk)
                if b"\r\n\r\n" in self.answer:
                    head, _, rest = bytes(self.answer).partition(b"\r\n\r\n")
                    length = _content_length(head)
                    if length is not None and len(rest) >= length:
                        break
        except OSError:
            pass
        self.done.set()

    def feed(self, chunks: Iterable[bytes], pause: float = 0.0) -> None:
        """Send chunks until the server answers or hangs up."""
        for chunk in chunks:
            if self.done.is_set():
                return
            try:
                self.sock.sendall(chunk)
            except OSError:
                return
            self.sent += len(chunk)
            if pause:
                self.done.wait(pause)

    def result(self, timeout: float = 20.0) -> tuple[int, dict[str, object], float]:
        assert self.done.wait(timeout), "no answer from the server"
        elapsed = time.monotonic() - self.started
        self.sock.close()
        head, _, body = bytes(self.answer).partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        return status, json.loads(body) if body.strip() else {}, elapsed


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


def request_head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    block = b"x" * size
    for _ in range(total // size):
        yield f"{size:x}\r\n".encode() + block + b"\r\n"
    yield b"0\r\n\r\n"


def slack_headers(body: bytes = b"", content_type: str = "application/json") -> dict[str, str]:
    ts = int(time.time())
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(body, ts),
    }


def alert_headers() -> dict[str, str]:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


ENDPOINTS = {
    "alerts": ("/alerts/generic", alert_headers),
    "slack": ("/slack/events", slack_headers),
}


# --- size cap and read deadline on both endpoints ---------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_declared_oversize_body_is_413_before_any_of_it_is_sent(
    bot: BotProcess, endpoint: str
) -> None:
    path, headers = ENDPOINTS[endpoint]
    head = request_head(path, {**headers(), "Content-Length": str(200 * 1024 * 1024)})
    exchange = RawExchange(bot.port, head)
    status, answer, elapsed = exchange.result(timeout=5)
    assert status == 413, answer
    assert "exceeds the limit" in str(answer["error"])
    # answered from the header alone: not one byte of the body was sent
    assert exchange.sent == 0


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_streamed_body_is_cut_off_at_the_cap_without_growing_memory(
    bot: BotProcess, endpoint: str
) -> None:
    assert bot.proc is not None
    path, headers = ENDPOINTS[endpoint]
    before = rss_bytes(bot.proc.pid)
    head = request_head(path, {**headers(), "Transfer-Encoding": "chunked"})
    exchange = RawExchange(bot.port, head)
    exchange.feed(chunked(200 * 1024 * 1024), pause=0.001)
    status, answer, _ = exchange.result()
    grown = rss_bytes(bot.proc.pid) - before
    assert status == 413, answer
    assert exchange.sent < 20 * 1024 * 1024, "the server kept reading past the cap"
    assert grown < 20 * 1024 * 1024, f"server memory grew by {grown} bytes"
    assert http(f"{bot.url}/healthz", None, {}, "GET").status == 200


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_trickling_body_is_408_within_the_deadline(bot: BotProcess, endpoint: str) -> None:
    path, headers = ENDPOINTS[endpoint]
    head = request_head(path, {**headers(), "Content-Length": "1000"})
    exchange = RawExchange(bot.port, head)
    exchange.feed((b"{" for _ in range(1000)), pause=0.25)
    status, answer, elapsed = exchange.result()
    assert status == 408, answer
    assert "not received within" in str(answer["error"])
    assert READ_TIMEOUT <= elapsed < READ_TIMEOUT + 2


def test_body_within_limits_still_flows_through(bot: BotProcess) -> None:
    body = json.dumps({"title": "disk full", "service": "checkout"}).encode()
    answer = http(f"{bot.url}/alerts/generic", body, alert_headers())
    assert answer.status == 202, answer.body


# --- /slack/events: signature on the raw bytes first, then shape, never a 500 ------------------


def post_slack(bot: BotProcess, body: bytes, headers: dict[str, str]) -> Answer:
    return http(f"{bot.url}/slack/events", body, headers)


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json"},
        {"Content-Type": "application/json", "X-Slack-Signature": "v0=00"},
        {"Content-Type": "application/json", "X-Slack-Request-Timestamp": "12"},
        {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": str(int(time.time())),
            "X-Slack-Signature": "v0=" + "0" * 64,
        },
        {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Signature": "é"},
    ],
)
def test_unsigned_malformed_body_is_401(bot: BotProcess, headers: dict[str, str]) -> None:
    answer = post_slack(bot, b"payload=%7Bnot json", headers)
    assert answer.status == 401, answer.body
    assert answer.json()["error"]


def test_old_signature_is_401_even_when_correct(bot: BotProcess) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c"}).encode()
    ts = int(time.time()) - 600
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(body, ts),
    }
    answer = post_slack(bot, body, headers)
    assert answer.status == 401
    assert "five minutes" in answer.json()["error"]


def test_signature_with_another_secret_is_401(bot: BotProcess) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c"}).encode()
    ts = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(body, ts, secret="not-the-secret"),
    }
    assert post_slack(bot, body, headers).status == 401


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (b"{not json", "application/json", 400, "invalid JSON"),
        (b"[1, 2]", "application/json", 400, "expected a JSON object"),
        (b'{"type": "event_callback", "type": "url_verification"}', "application/json", 400,
         "duplicate key"),
        (b'{"event": {}}', "application/json", 400, "'type'"),
        (b"\xff\xfe", "application/json", 400, "UTF-8"),
        (b"payload=%7Bnot+json", FORM, 400, "invalid JSON"),
        (urlencode({"payload": "[]"}).encode(), FORM, 400, "expected a JSON object"),
        (b"team_id=T1&user_id=U1", FORM, 400, "neither a payload nor a command"),
        (b"", FORM, 400, "neither a payload nor a command"),
        (b"command=%2Fincident&command=%2Fother", FORM, 400, "repeats a field"),
        (b"a=%zz&&==", FORM, 400, "form"),
        (b"{broken", FORM, 400, "invalid JSON"),
        (b"<xml/>", "application/xml", 415, "content type"),
        (b"x", "", 415, "content type"),
    ],
)
def test_signed_malformed_body_is_4xx_naming_the_problem(
    bot: BotProcess, body: bytes, content_type: str, status: int, words: str
) -> None:
    answer = post_slack(bot, body, slack_headers(body, content_type))
    assert answer.status == status, answer.body
    assert words in answer.json()["error"]


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "event_callback", "authorizations": "x", "event": {"type": "message"}},
        {"type": "event_callback", "enterprise": ["id"], "event": {"type": "message"}},
        {"type": "block_actions", "user": 5, "actions": "none", "container": []},
        {"type": "view_submission", "view": "v", "team": ["enterprise_id"]},
        # Well-typed at the top; Bolt's own request parsing trips over the nested member.
        {"type": "message", "event": {"authorizations": 5}},
    ],
)
def test_signed_payload_of_an_odd_shape_is_never_a_500(
    bot: BotProcess, payload: dict[str, object]
) -> None:
    for body, content_type in [
        (json.dumps(payload).encode(), "application/json"),
        (urlencode({"payload": json.dumps(payload)}).encode(), FORM),
    ]:
        answer = post_slack(bot, body, slack_headers(body, content_type))
        assert answer.status not in NEVER, (payload, answer.body)
        assert answer.status < 500


def test_signed_url_verification_reaches_bolt(bot: BotProcess) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"}).encode()
    answer = post_slack(bot, body, slack_headers(body))
    assert answer.status == 200
    assert b"abc123" in answer.body


slack_header_values = st.text(max_size=40).map(
    lambda s: s.encode("latin-1", "ignore").decode("latin-1")
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.binary(max_size=2048),
    content_type=st.sampled_from(["application/json", FORM, "text/plain", "", "application/JSON"]),
    signature=st.none() | slack_header_values | st.just("sign"),
    timestamp=st.none() | slack_header_values | st.just("now"),
)
def test_random_requests_get_a_clear_answer(
    bot: BotProcess,
    body: bytes,
    content_type: str,
    signature: str | None,
    timestamp: str | None,
) -> None:
    headers = {"Content-Type": content_type}
    ts = str(int(time.time())) if timestamp == "now" else timestamp
    if ts is not None:
        headers["X-Slack-Request-Timestamp"] = "".join(c for c in ts if c.isprintable()).strip()
    if signature == "sign" and ts is not None and ts.isdigit():
        headers["X-Slack-Signature"] = sign(body, int(ts))
    elif signature is not None:
        headers["X-Slack-Signature"] = "".join(c for c in signature if c.isprintable()).strip()
    answer = post_slack(bot, body, headers)
    assert answer.status in {200, 400, 401, 404, 408, 413, 415}, (answer.status, answer.body)
    if answer.status != 200:
        assert answer.body


# --- PagerDuty signatures ------------------------------------------------------------------------


def pagerduty_signature(body: bytes, secret: str = PAGERDUTY_SECRET) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_pagerduty(bot: BotProcess, body: bytes, extra: dict[str, str]) -> Answer:
    headers = {"Content-Type": "application/json", **extra}
    return http(f"{bot.url}/alerts/pagerduty", body, headers)


def pagerduty_body(incident: str) -> bytes:
    event = json.loads(json.dumps(PAGERDUTY_EVENT))
    event["event"]["data"]["id"] = incident
    return json.dumps(event).encode()


def test_pagerduty_with_a_valid_signature_is_accepted_without_a_token(bot: BotProcess) -> None:
    body = pagerduty_body("PSIGNED1")
    answer = post_pagerduty(bot, body, {"X-PagerDuty-Signature": pagerduty_signature(body)})
    assert answer.status == 202, answer.body


def test_pagerduty_rotation_any_listed_signature_may_match(bot: BotProcess) -> None:
    body = pagerduty_body("PSIGNED2")
    header = f"v1={'0' * 64},{pagerduty_signature(body)}"
    assert post_pagerduty(bot, body, {"X-PagerDuty-Signature": header}).status == 202


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "v1=" + "0" * 64,
        "v0=deadbeef",
        "signed",
    ],
)
def test_pagerduty_without_a_valid_signature_or_token_is_401(
    bot: BotProcess, header: str | None
) -> None:
    body = pagerduty_body("PUNSIGNED")
    answer = post_pagerduty(bot, body, {} if header is None else {"X-PagerDuty-Signature": header})
    assert answer.status == 401, answer.body


def test_pagerduty_signature_of_another_body_is_401(bot: BotProcess) -> None:
    body = pagerduty_body("PTAMPER")
    signature = pagerduty_signature(pagerduty_body("PORIGINAL"))
    assert post_pagerduty(bot, body, {"X-PagerDuty-Signature": signature}).status == 401
    wrong_secret = pagerduty_signature(body, secret="other")
    assert post_pagerduty(bot, body, {"X-PagerDuty-Signature": wrong_secret}).status == 401


def test_pagerduty_bearer_token_still_works(bot: BotProcess) -> None:
    body = pagerduty_body("PTOKEN1")
    answer = post_pagerduty(bot, body, {"Authorization": f"Bearer {TOKEN}"})
    assert answer.status == 202, answer.body


def test_pagerduty_signature_does_not_open_other_sources(bot: BotProcess) -> None:
    body = json.dumps({"title": "t", "service": "checkout"}).encode()
    headers = {
        "Content-Type": "application/json",
        "X-PagerDuty-Signature": pagerduty_signature(body),
    }
    assert http(f"{bot.url}/alerts/generic", body, headers).status == 401


def test_empty_bearer_is_401(bot: BotProcess) -> None:
    body = json.dumps({"title": "t", "service": "checkout"}).encode()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer "}
    assert http(f"{bot.url}/alerts/generic", body, headers).status == 401


# --- duplicate keys over HTTP ---------------------------------------------------------------------


def test_duplicate_keys_are_422_naming_the_key(bot: BotProcess) -> None:
    body = b'{"title": "t", "service": "checkout", "service": "payment-gateway"}'
    answer = http(f"{bot.url}/alerts/generic", body, alert_headers())
    assert answer.status == 422
    assert answer.json()["error"].startswith("service: duplicate key 'service'")


# --- start-up refuses to run open ----------------------------------------------------------------


def run_serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "ALERT_WEBHOOK_", "PAGERDUTY_"))
    }
    base.update(
        SQLITE_PATH=str(tmp_path / "bot.db"),
        RUNBOOK_INDEX_PATH=str(tmp_path / "rb.db"),
        PYTHONPATH=str(PROJECT),
        **env,
    )
    argv = [sys.executable, "-m", "bot.cli", "serve", "--port", str(free_port())]
    return subprocess.run(
        argv, cwd=tmp_path, env=base, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("token", [None, "", "   "])
def test_serve_refuses_to_start_open(tmp_path: Path, token: str | None) -> None:
    env = {} if token is None else {"ALERT_WEBHOOK_TOKEN": token}
    done = run_serve(tmp_path, **env)
    assert done.returncode == 2, done.stderr
    for name in ("ALERT_WEBHOOK_TOKEN", "PAGERDUTY_SIGNING_SECRET",
                 "ALERT_WEBHOOK_ALLOW_UNAUTHENTICATED"):
        assert name in done.stderr


def test_serve_refuses_half_configured_slack(tmp_path: Path) -> None:
    done = run_serve(tmp_path, ALERT_WEBHOOK_TOKEN="t", SLACK_BOT_TOKEN="xoxb-1",
                     SLACK_SIGNING_SECRET="")
    assert done.returncode == 2
    assert "SLACK_SIGNING_SECRET is missing" in done.stderr


def test_serve_starts_open_when_told_to_and_then_accepts_unauthenticated(
    tmp_path: Path, recorder: SlackRecorder
) -> None:
    env = bot_env(tmp_path, recorder.url, ALERT_WEBHOOK_TOKEN="")
    process = BotProcess(tmp_path, env).start()
    try:
        body = json.dumps({"title": "t", "service": "checkout"}).encode()
        answer = http(f"{process.url}/alerts/generic", body, {"Content-Type": "application/json"})
        assert answer.status == 202, answer.body
    finally:
        process.stop()
