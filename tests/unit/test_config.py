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
