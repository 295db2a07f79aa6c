"""Settings: every knob from the environment or `.env`, validated once at start-up."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class StoreBackend(StrEnum):
    SQLITE = "sqlite"
    COSMOS = "cosmos"


class LLMProvider(StrEnum):
    RULES = "rules"
    OPENAI = "openai"
    AZURE = "azure"


class RunbookBackend(StrEnum):
    LOCAL = "local"
    AZURE = "azure"


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CsvList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """One object holding every setting; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # store
    store_backend: StoreBackend = Field(default=StoreBackend.SQLITE, alias="STORE_BACKEND")
    sqlite_path: Path = Field(default=Path("var/incident-bot.db"), alias="SQLITE_PATH")
    cosmos_endpoint: str = Field(default="", alias="COSMOS_ENDPOINT")
    cosmos_key: SecretStr | None = Field(default=None, alias="COSMOS_KEY")
    cosmos_database: str = Field(default="incident-bot", alias="COSMOS_DATABASE")
    cosmos_verify_tls: bool = Field(default=True, alias="COSMOS_VERIFY_TLS")
    cosmos_throughput: int | None = Field(default=None, ge=400, alias="COSMOS_THROUGHPUT")

    # data folders
    policy_dir: Path = Field(default=PROJECT_ROOT / "policies", alias="POLICY_DIR")
    runbook_dir: Path = Field(default=PROJECT_ROOT / "runbooks", alias="RUNBOOK_DIR")
    prompt_dir: Path = Field(default=PROJECT_ROOT / "prompts", alias="PROMPT_DIR")

    # alert ingestion
    alert_webhook_token: SecretStr | None = Field(default=None, alias="ALERT_WEBHOOK_TOKEN")
    alert_webhook_allow_unauthenticated: bool = Field(
        default=False, alias="ALERT_WEBHOOK_ALLOW_UNAUTHENTICATED"
    )
    pagerduty_signing_secret: SecretStr | None = Field(
        default=None, alias="PAGERDUTY_SIGNING_SECRET"
    )
    webhook_read_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, alias="WEBHOOK_READ_TIMEOUT_SECONDS"
    )
    alert_max_body_bytes: int = Field(default=1_048_576, gt=0, alias="ALERT_MAX_BODY_BYTES")
    alert_max_json_depth: int = Field(default=32, gt=0, le=1000, alias="ALERT_MAX_JSON_DEPTH")
    alert_max_per_payload: int = Field(default=500, gt=0, alias="ALERT_MAX_PER_PAYLOAD")
    storm_threshold: int = Field(default=20, ge=0, alias="STORM_THRESHOLD")
    storm_window_seconds: float = Field(default=60.0, gt=0, le=86400, alias="STORM_WINDOW_SECONDS")
    service_label_order: CsvList = Field(
        default_factory=lambda: [
            "service",
            "app.kubernetes.io/name",
            "app",
            "k8s_app",
            "job",
            "container",
            "namespace",
        ],
        alias="SERVICE_LABEL_ORDER",
    )

    # Slack
    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_max_body_bytes: int = Field(default=1_048_576, gt=0, alias="SLACK_MAX_BODY_BYTES")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    slack_api_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, alias="SLACK_API_TIMEOUT_SECONDS"
    )
    slack_alert_channels: CsvList = Field(default_factory=list, alias="SLACK_ALERT_CHANNELS")
    slack_incident_channel: str = Field(default="", alias="SLACK_INCIDENT_CHANNEL")
    # Told whenever someone breaks the glass of a freeze (empty: only the incident's thread).
    security_channel: str = Field(default="", alias="SECURITY_CHANNEL")
    # Every status update (/incident update) is posted here too (empty: only the incident's).
    broadcast_channel: str = Field(default="", alias="BROADCAST_CHANNEL")
    # Triage accuracy drift is posted here (empty: no posts; /metrics shows the figures anyway).
    drift_channel: str = Field(default="", alias="DRIFT_CHANNEL")

    # LLM
    llm_provider: LLMProvider = Field(default=LLMProvider.RULES, alias="LLM_PROVIDER")
    openai_base_url: str = Field(default="", alias="OPENAI_BASE_URL")
    openai_api_key: SecretStr | None = Field(default=None, alias="OPENAI_API_KEY")
    llm_model: str = Field(default="gpt-4o-mini", alias="LLM_MODEL")
    azure_openai_endpoint: str = Field(default="", alias="AZURE_OPENAI_ENDPOINT")
    azure_openai_api_key: SecretStr | None = Field(default=None, alias="AZURE_OPENAI_API_KEY")
    azure_openai_deployment: str = Field(default="", alias="AZURE_OPENAI_DEPLOYMENT")
    openai_api_version: str = Field(default="2024-10-21", alias="OPENAI_API_VERSION")
    llm_timeout_seconds: float = Field(default=30.0, gt=0, alias="LLM_TIMEOUT_SECONDS")
    llm_max_retries: int = Field(default=3, ge=0, le=10, alias="LLM_MAX_RETRIES")
    triage_validation_retries: int = Field(
        default=2, ge=0, le=10, alias="TRIAGE_VALIDATION_RETRIES"
    )
    llm_daily_token_budget: int = Field(default=2_000_000, ge=0, alias="LLM_DAILY_TOKEN_BUDGET")
    redact_extra_patterns: CsvList = Field(default_factory=list, alias="REDACT_EXTRA_PATTERNS")
    llm_response_format: str = Field(
        default="json_schema", pattern="^(json_schema|json_object)$", alias="LLM_RESPONSE_FORMAT"
    )
    llm_price_table: Path = Field(
        default=PROJECT_ROOT / "bot" / "triage" / "prices.yaml", alias="LLM_PRICE_TABLE"
    )
    llm_retry_max_sleep_seconds: float = Field(
        default=60.0, ge=0, alias="LLM_RETRY_MAX_SLEEP_SECONDS"
    )
    llm_max_concurrency: int = Field(default=4, ge=1, le=256, alias="LLM_MAX_CONCURRENCY")
    triage_rules_path: Path = Field(
        default=PROJECT_ROOT / "bot" / "triage" / "keywords.yaml", alias="TRIAGE_RULES_PATH"
    )
    triage_allow_cross_service: bool = Field(default=False, alias="TRIAGE_ALLOW_CROSS_SERVICE")

    # runbooks
    runbook_backend: RunbookBackend = Field(default=RunbookBackend.LOCAL, alias="RUNBOOK_BACKEND")
    runbook_top_k: int = Field(default=4, ge=1, le=50, alias="RUNBOOK_TOP_K")
    runbook_index_path: Path = Field(default=Path("var/runbooks.db"), alias="RUNBOOK_INDEX_PATH")
    runbook_embeddings: str = Field(
        default="auto", pattern="^(auto|none|openai)$", alias="RUNBOOK_EMBEDDINGS"
    )
    runbook_embedding_model: str = Field(
        default="text-embedding-3-small", alias="RUNBOOK_EMBEDDING_MODEL"
    )
    runbook_model_dir: Path = Field(default=Path("var/models"), alias="RUNBOOK_MODEL_DIR")
    azure_search_endpoint: str = Field(default="", alias="AZURE_SEARCH_ENDPOINT")
    azure_search_key: SecretStr | None = Field(default=None, alias="AZURE_SEARCH_KEY")
    azure_search_index: str = Field(default="runbooks", alias="AZURE_SEARCH_INDEX")
    azure_search_semantic_config: str = Field(default="", alias="AZURE_SEARCH_SEMANTIC_CONFIG")
    azure_search_verify_tls: bool = Field(default=True, alias="AZURE_SEARCH_VERIFY_TLS")

    # approvals and actions
    approval_ttl_seconds: int = Field(default=1800, gt=0, alias="APPROVAL_TTL_SECONDS")
    approval_reminder_seconds: int = Field(default=600, gt=0, alias="APPROVAL_REMINDER_SECONDS")
    # The commander of an open SEV0/SEV1 incident is asked for a status update this often (0: off).
    update_reminder_minutes: float = Field(
        default=30.0, ge=0, le=1440, alias="UPDATE_REMINDER_MINUTES"
    )
    # The drift check: a category's accuracy over its last N corrected or confirmed incidents.
    drift_min_corrected: int = Field(default=20, ge=1, le=10_000, alias="DRIFT_MIN_CORRECTED")
    drift_accuracy_threshold: float = Field(
        default=0.8, ge=0, le=1, alias="DRIFT_ACCURACY_THRESHOLD"
    )
    scheduler_interval_seconds: float = Field(
        default=15.0, gt=0, le=3600, alias="SCHEDULER_INTERVAL_SECONDS"
    )
    runbook_reindex_seconds: float = Field(default=300.0, gt=0, alias="RUNBOOK_REINDEX_SECONDS")
    outbox_interval_seconds: float = Field(
        default=3.0, gt=0, le=600, alias="OUTBOX_INTERVAL_SECONDS"
    )
    outbox_max_attempts: int = Field(default=8, ge=1, le=100, alias="OUTBOX_MAX_ATTEMPTS")
    outbox_backoff_seconds: float = Field(default=1.0, gt=0, le=600, alias="OUTBOX_BACKOFF_SECONDS")
    slack_usergroup_cache_seconds: float = Field(
        default=300.0, ge=0, alias="SLACK_USERGROUP_CACHE_SECONDS"
    )
    slack_user_cache_seconds: float = Field(
        default=3600.0, ge=0, le=86400, alias="SLACK_USER_CACHE_SECONDS"
    )
    runbook_repo_url: str = Field(default="", alias="RUNBOOK_REPO_URL")
    follow_up_note_seconds: float = Field(
        default=60.0, ge=0, le=86400, alias="FOLLOW_UP_NOTE_SECONDS"
    )
    action_http_token: SecretStr | None = Field(default=None, alias="ACTION_HTTP_TOKEN")
    # Paging: key name (services.yaml oncall.paging.key) -> PagerDuty routing key or Opsgenie
    # API key, as JSON ({"PAYMENTS": "…"}); the provider URLs are settable for tests.
    paging_keys: SecretStr | None = Field(default=None, alias="PAGING_KEYS")
    pagerduty_events_url: str = Field(
        default="https://events.pagerduty.com/v2/enqueue", alias="PAGERDUTY_EVENTS_URL"
    )
    opsgenie_api_url: str = Field(default="https://api.opsgenie.com", alias="OPSGENIE_API_URL")
    action_timeout_seconds: float = Field(default=30.0, gt=0, alias="ACTION_TIMEOUT_SECONDS")
    action_claim_margin_seconds: float = Field(
        default=60.0, gt=0, le=86400, alias="ACTION_CLAIM_MARGIN_SECONDS"
    )

    # evidence from Prometheus, and post-action verification
    prometheus_url: str = Field(default="", alias="PROMETHEUS_URL")
    prometheus_bearer_token: SecretStr | None = Field(default=None, alias="PROMETHEUS_BEARER_TOKEN")
    prometheus_username: str = Field(default="", alias="PROMETHEUS_USERNAME")
    prometheus_password: SecretStr | None = Field(default=None, alias="PROMETHEUS_PASSWORD")
    prometheus_ca_bundle: Path | None = Field(default=None, alias="PROMETHEUS_CA_BUNDLE")
    prometheus_verify_tls: bool = Field(default=True, alias="PROMETHEUS_VERIFY_TLS")
    prometheus_timeout_seconds: float = Field(
        default=5.0, gt=0, le=120, alias="PROMETHEUS_TIMEOUT_SECONDS"
    )
    evidence_lookback_seconds: float = Field(
        default=3600.0, gt=0, le=7 * 86400, alias="EVIDENCE_LOOKBACK_SECONDS"
    )
    evidence_chart_interval_seconds: float = Field(
        default=900.0, ge=0, le=86400, alias="EVIDENCE_CHART_INTERVAL_SECONDS"
    )
    verify_interval_seconds: float = Field(
        default=15.0, gt=0, le=3600, alias="VERIFY_INTERVAL_SECONDS"
    )

    # operations
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    # "/" separates the replica from its boot in lease owners (``{replica}/{boot}/{attempt}``).
    replica_id: str = Field(default="", pattern=r"^[^/]*$", alias="REPLICA_ID")
    triage_workers: int = Field(default=4, ge=1, le=64, alias="TRIAGE_WORKERS")
    triage_queue_capacity: int = Field(default=1000, ge=1, alias="TRIAGE_QUEUE_CAPACITY")
    incident_admins: CsvList = Field(default_factory=list, alias="INCIDENT_ADMINS")
    keep_raw_payloads: bool = Field(default=False, alias="KEEP_RAW_PAYLOADS")
    raw_payload_retention_days: float = Field(
        default=30.0, gt=0, le=3650, alias="RAW_PAYLOAD_RETENTION_DAYS"
    )
    outbox_retention_days: float = Field(default=7.0, gt=0, le=3650, alias="OUTBOX_RETENTION_DAYS")
    store_busy_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, alias="STORE_BUSY_TIMEOUT_SECONDS"
    )

    @field_validator(
        "service_label_order",
        "slack_alert_channels",
        "redact_extra_patterns",
        "incident_admins",
        mode="before",
    )
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        return _csv(value)

    @field_validator("runbook_repo_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.lower().startswith(("https://", "http://")):
            raise ValueError(
                "must be an http(s) URL, e.g. https://github.com/org/repo/blob/main/runbooks/"
            )
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _blank_secret_is_unset(cls, value: Any, info: ValidationInfo) -> Any:
        # ``TOKEN=`` in an env file must not become a secret that an empty header matches.
        if info.field_name not in _SECRET_FIELDS:
            return value
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str) and not text.strip():
            return None
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return upper

    @property
    def slack_enabled(self) -> bool:
        """Slack posting is on only when both the bot token and signing secret are set."""
        return self.slack_bot_token is not None and self.slack_signing_secret is not None

    def check_serve(self, socket_mode: bool) -> None:
        """Refuse to serve open webhooks or half-configured Slack (ConfigError naming variables)."""
        problems = [*self._webhook_problems(), *self._slack_problems(socket_mode)]
        if problems:
            raise ConfigError("refusing to start: " + "; ".join(problems))

    def _webhook_problems(self) -> list[str]:
        if self.alert_webhook_token is not None or self.alert_webhook_allow_unauthenticated:
            return []
        return [
            "POST /alerts/{source} would accept anyone: set ALERT_WEBHOOK_TOKEN (and "
            "PAGERDUTY_SIGNING_SECRET for PagerDuty's signed webhooks), or set "
            "ALERT_WEBHOOK_ALLOW_UNAUTHENTICATED=true to run without authentication on purpose"
        ]

    def _slack_problems(self, socket_mode: bool) -> list[str]:
        given = {
            "SLACK_BOT_TOKEN": self.slack_bot_token is not None,
            "SLACK_SIGNING_SECRET": self.slack_signing_secret is not None,
        }
        if socket_mode:
            given["SLACK_APP_TOKEN"] = self.slack_app_token is not None
        missing = [name for name, present in given.items() if not present]
        if not missing or (len(missing) == len(given) and not socket_mode):
            return []
        if socket_mode:
            return [f"--socket-mode needs {', '.join(given)}; missing: {', '.join(missing)}"]
        return [
            f"Slack is half configured: {', '.join(missing)} is missing; set both "
            "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET, or neither to run without Slack"
        ]


_SECRET_FIELDS = frozenset(
    name for name, info in Settings.model_fields.items() if info.annotation == SecretStr | None
)


def _variable_name(loc: tuple[int | str, ...]) -> str:
    field = str(loc[0]) if loc else "?"
    info = Settings.model_fields.get(field)
    if info is not None and info.alias:
        return info.alias
    return field.upper()


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from env / .env; a bad value raises ConfigError naming the variable."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = [
            f"{_variable_name(err['loc'])}: {err['msg']} (got {err.get('input')!r})"
            for err in exc.errors()
        ]
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
    _check_consistency(settings)
    return settings


def _check_consistency(settings: Settings) -> None:
    if settings.store_backend is StoreBackend.COSMOS and not settings.cosmos_endpoint:
        raise ConfigError("COSMOS_ENDPOINT must be set when STORE_BACKEND=cosmos")
    if settings.llm_provider is LLMProvider.AZURE and not (
        settings.azure_openai_endpoint and settings.azure_openai_deployment
    ):
        raise ConfigError(
            "AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_DEPLOYMENT must be set when LLM_PROVIDER=azure"
        )
    if settings.runbook_backend is RunbookBackend.AZURE and not settings.azure_search_endpoint:
        raise ConfigError("AZURE_SEARCH_ENDPOINT must be set when RUNBOOK_BACKEND=azure")
