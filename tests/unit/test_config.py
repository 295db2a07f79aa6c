"""Settings: env names, clear errors naming the variable, and the README table kept complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import LLMProvider, Settings, StoreBackend, load_settings
from bot.errors import ConfigError

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_are_the_embedded_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STORE_BACKEND", "LLM_PROVIDER", "POLICY_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.store_backend is StoreBackend.SQLITE
    assert settings.llm_provider is LLMProvider.RULES
    assert settings.policy_dir.name == "policies"
    assert not settings.slack_enabled


def test_environment_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv("SERVICE_LABEL_ORDER", "team, app")
    monkeypatch.setenv("ALERT_MAX_BODY_BYTES", "2048")
    settings = load_settings()
    assert settings.slack_enabled
    assert settings.service_label_order == ["team", "app"]
    assert settings.alert_max_body_bytes == 2048


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STORE_BACKEND", "postgres"),
        ("ALERT_MAX_BODY_BYTES", "lots"),
        ("LLM_PROVIDER", "gpt"),
        ("COSMOS_VERIFY_TLS", "maybe"),
        ("LOG_LEVEL", "LOUD"),
        ("TRIAGE_VALIDATION_RETRIES", "-1"),
    ],
)
def test_invalid_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_inconsistent_backends_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORE_BACKEND", "cosmos")
    monkeypatch.delenv("COSMOS_ENDPOINT", raising=False)
    with pytest.raises(ConfigError, match="COSMOS_ENDPOINT"):
        load_settings()


def test_readme_documents_every_setting() -> None:
    text = README.read_text()
    missing = [
        field.alias
        for field in Settings.model_fields.values()
        if field.alias and f"| `{field.alias}` |" not in text
    ]
    assert missing == []


SECRET_VARIABLES = [
    field.alias
    for field in Settings.model_fields.values()
    if field.alias and "SecretStr" in str(field.annotation)
]


def test_every_secret_setting_is_covered() -> None:
    assert {"ALERT_WEBHOOK_TOKEN", "SLACK_SIGNING_SECRET", "PAGERDUTY_SIGNING_SECRET"} <= set(
        SECRET_VARIABLES
    )


@pytest.mark.parametrize("name", SECRET_VARIABLES)
@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_blank_secret_counts_as_unset(
    monkeypatch: pytest.MonkeyPatch, name: str, blank: str
) -> None:
    monkeypatch.setenv(name, blank)
    settings = load_settings()
    field = next(key for key, info in Settings.model_fields.items() if info.alias == name)
    assert getattr(settings, field) is None


def test_set_secret_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERT_WEBHOOK_TOKEN", " s3cret ")
    token = load_settings().alert_webhook_token
    assert token is not None and token.get_secret_value() == " s3cret "


def serve_settings(**values: str) -> Settings:
    blank = {
        "ALERT_WEBHOOK_TOKEN": "",
        "PAGERDUTY_SIGNING_SECRET": "",
        "SLACK_BOT_TOKEN": "",
        "SLACK_SIGNING_SECRET": "",
        "SLACK_APP_TOKEN": "",
        "ALERT_WEBHOOK_ALLOW_UNAUTHENTICATED": "false",
    }
    return load_settings(**{**blank, **values})


def test_serve_refuses_open_webhooks_naming_the_variables() -> None:
    with pytest.raises(ConfigError) as caught:
        serve_settings().check_serve(socket_mode=False)
    message = str(caught.value)
    for name in ("ALERT_WEBHOOK_TOKEN", "PAGERDUTY_SIGNING_SECRET",
                 "ALERT_WEBHOOK_ALLOW_UNAUTHENTICATED"):
        assert name in message


def test_serve_refuses_an_empty_token_as_open() -> None:
    with pytest.raises(ConfigError, match="ALERT_WEBHOOK_TOKEN"):
        serve_settings(ALERT_WEBHOOK_TOKEN="  ").check_serve(socket_mode=False)


def test_a_pagerduty_secret_alone_leaves_other_sources_open() -> None:
    with pytest.raises(ConfigError, match="ALERT_WEBHOOK_TOKEN"):
        serve_settings(PAGERDUTY_SIGNING_SECRET="pd").check_serve(socket_mode=False)


@pytest.mark.parametrize(
    "values",
    [
        {"ALERT_WEBHOOK_TOKEN": "t"},
        {"ALERT_WEBHOOK_ALLOW_UNAUTHENTICATED": "true"},
        {"ALERT_WEBHOOK_TOKEN": "t", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"},
    ],
)
def test_serve_starts_when_told_how(values: dict[str, str]) -> None:
    serve_settings(**values).check_serve(socket_mode=False)


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({"SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": " "}, "SLACK_SIGNING_SECRET"),
    ],
)
def test_half_configured_slack_is_refused(values: dict[str, str], missing: str) -> None:
    settings = serve_settings(ALERT_WEBHOOK_TOKEN="t", **values)
    with pytest.raises(ConfigError, match=f"{missing} is missing"):
        settings.check_serve(socket_mode=False)


def test_socket_mode_needs_the_app_token() -> None:
    settings = serve_settings(
        ALERT_WEBHOOK_TOKEN="t", SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s"
    )
    with pytest.raises(ConfigError, match="missing: SLACK_APP_TOKEN"):
        settings.check_serve(socket_mode=True)
    serve_settings(
        ALERT_WEBHOOK_TOKEN="t",
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_SIGNING_SECRET="s",
        SLACK_APP_TOKEN="xapp-1",
    ).check_serve(socket_mode=True)


def test_new_limits_have_safe_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WEBHOOK_READ_TIMEOUT_SECONDS", "SLACK_MAX_BODY_BYTES"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.webhook_read_timeout_seconds == 10
    assert settings.slack_max_body_bytes <= 1_048_576
    assert settings.alert_webhook_allow_unauthenticated is False
