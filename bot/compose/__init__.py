"""The composition root: the only code that reads Settings and builds things.

    Root(settings)         holds the settings; every edge asks it for what it needs
      .runtime()           store, policy, triager, runbooks, executors, notifier, directory,
                           the pipeline over them: a ``Runtime``
      .serve(...)          runtime + Slack + scheduler + the web app, under uvicorn
      .policy() ...        the single parts the CLI uses on their own

Order matters and is fixed here: the notifier (Slack, or a log when Slack is off) exists
before the pipeline, and nothing is swapped into anything after construction.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from bot.accuracy import DriftRule
from bot.actions.executors import (
    CommandExecutor,
    DryRunExecutor,
    HttpExecutor,
    PrometheusQueryExecutor,
)
from bot.actions.paging import PageExecutor, PagingTarget
from bot.compose import llm, runbooks, stores
from bot.config import LLMProvider, RunbookBackend, Settings, StoreBackend, load_settings
from bot.errors import ConfigError
from bot.ingest import IngestOptions
from bot.notify import NoPeople, SilentNotifier
from bot.pipeline import (
    DeliveryOptions,
    Dispatcher,
    FlowOptions,
    NoDirectory,
    Pipeline,
    TriageQueue,
)
from bot.pipeline.storm import StormRule
from bot.policy import Policy, load_policy
from bot.policy.documents import ExecutorKind
from bot.ports import (
    Backend,
    Charts,
    Directory,
    Executor,
    Metrics,
    Notifier,
    People,
    RunbookSearch,
    Triager,
)
from bot.redaction import Redactor
from bot.retrieval import RunbookIndex
from bot.retrieval.index import IndexStats, Progress
from bot.runtime import Runtime
from bot.web import WebConfig

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["Root", "Runtime", "load_settings"]

log = logging.getLogger(__name__)

# Retention is counted in days: pruning hourly keeps each run's batch small.
PRUNE_EVERY_SECONDS = 3600.0
# The drift check reads every judged incident of its lookback: hourly is often enough.
DRIFT_EVERY_SECONDS = 3600.0


class Root:
    """Settings in, built parts out."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings if settings is not None else load_settings()

    # what the CLI shows or passes on as plain values -------------------------------------------
    @property
    def log_level(self) -> str:
        """LOG_LEVEL."""
        return self._settings.log_level

    @property
    def policy_dir(self) -> Path:
        """POLICY_DIR."""
        return self._settings.policy_dir

    @property
    def runbook_dir(self) -> Path:
        """RUNBOOK_DIR."""
        return self._settings.runbook_dir

    def offline(self, folder: Path) -> Root:
        """The same settings, but a throw-away store and index in ``folder``, the rules engine
        instead of any model, and no Slack: what the demo runs on."""
        return Root(
            self._settings.model_copy(
                update={
                    "sqlite_path": folder / "demo.db",
                    "runbook_index_path": folder / "runbooks.db",
                    "store_backend": StoreBackend.SQLITE,
                    "llm_provider": LLMProvider.RULES,
                    "slack_bot_token": None,
                    "slack_signing_secret": None,
                }
            )
        )

    # single parts ------------------------------------------------------------------------------
    def redactor(self) -> Redactor:
        """The one redactor every egress uses."""
        return llm.build_redactor(self._settings)

    def policy(self) -> Policy:
        """The validated policy folder (PolicyError names the file and path: fail closed)."""
        return load_policy(self._settings.policy_dir)

    def store(self) -> Backend:
        """The configured store (Store and Coordination)."""
        return stores.build_store(self._settings)

    def runbook_index(
        self, progress: Progress | None = None, *, rebuild: bool = False
    ) -> tuple[RunbookIndex, IndexStats]:
        """The runbook index brought up to date (``rebuild``: from scratch), with its stats."""
        settings = self._settings
        if rebuild and settings.runbook_index_path.exists():
            settings.runbook_index_path.unlink()
        return runbooks.build_index(settings, progress)

    def executors(self, policy: Policy | None = None) -> dict[str, Executor]:
        """The executors, keyed by the names actions.yaml uses."""
        settings = self._settings
        return {
            ExecutorKind.PAGE.value: PageExecutor(
                paging_targets(policy or self.policy(), paging_keys(settings.paging_keys)),
                settings.action_timeout_seconds,
                pagerduty_url=settings.pagerduty_events_url,
                opsgenie_url=settings.opsgenie_api_url,
            ),
            ExecutorKind.DRY_RUN.value: DryRunExecutor(),
            ExecutorKind.HTTP.value: HttpExecutor(
                settings.action_http_token, settings.action_timeout_seconds
            ),
            ExecutorKind.COMMAND.value: CommandExecutor(settings.action_timeout_seconds),
            ExecutorKind.PROMETHEUS_QUERY.value: PrometheusQueryExecutor(self.metrics()),
        }

    def metrics(self) -> Metrics | None:
        """The Prometheus client (PROMETHEUS_*), or None when no server is configured."""
        settings = self._settings
        if not settings.prometheus_url:
            return None
        from bot.evidence.prometheus import PrometheusClient

        return PrometheusClient(
            settings.prometheus_url,
            timeout_seconds=settings.prometheus_timeout_seconds,
            bearer_token=settings.prometheus_bearer_token,
            username=settings.prometheus_username,
            password=settings.prometheus_password,
            ca_bundle=settings.prometheus_ca_bundle,
            verify_tls=settings.prometheus_verify_tls,
        )

    def charts(self) -> Charts | None:
        """The chart renderer (matplotlib, imported only when evidence is on)."""
        if not self._settings.prometheus_url:
            return None
        from bot.evidence.charts import AggCharts

        return AggCharts()

    def evaluation_triager(
        self,
        store: Backend,
        provider: str,
        *,
        base_url: str = "",
        model: str = "",
        api_key_env: str = "",
    ) -> Triager:
        """A triager to score: these settings with the provider, endpoint (Azure: endpoint),
        model (Azure: deployment) and the key read from ``api_key_env`` overridden, and no
        daily token budget, so a whole labelled set is scored."""
        try:
            chosen = LLMProvider(provider)
        except ValueError:
            raise ConfigError(f"--provider: unknown provider {provider!r}") from None
        key: SecretStr | None = None
        if api_key_env:
            value = os.environ.get(api_key_env, "")
            if not value:
                raise ConfigError(f"--api-key-env: {api_key_env} is not set")
            key = SecretStr(value)
        update: dict[str, Any] = {"llm_provider": chosen, "llm_daily_token_budget": 0}
        if chosen is LLMProvider.AZURE:
            update.update(azure_openai_endpoint=base_url, azure_openai_deployment=model)
            update.update({"azure_openai_api_key": key} if key is not None else {})
        elif chosen is LLMProvider.OPENAI:
            update.update(openai_base_url=base_url, llm_model=model)
            update.update({"openai_api_key": key} if key is not None else {})
        settings = self._settings.model_copy(update={k: v for k, v in update.items() if v != ""})
        if chosen is LLMProvider.AZURE and not (
            settings.azure_openai_endpoint and settings.azure_openai_deployment
        ):
            raise ConfigError(
                "--provider azure needs --base-url (endpoint) and --model (deployment)"
            )
        return llm.build_triager(settings, store)

    def people(self) -> People:
        """Display names for files people read (users.info when Slack has a bot token)."""
        settings = self._settings
        if settings.slack_bot_token is None:
            return NoPeople()
        from bot.slack.people import people_for_token

        return people_for_token(
            settings.slack_bot_token.get_secret_value(),
            settings.slack_api_url,
            ttl_seconds=settings.slack_user_cache_seconds,
            timeout_seconds=settings.slack_api_timeout_seconds,
        )

    def replica_id(self) -> str:
        """This process's name in leases and claims."""
        return self._settings.replica_id or f"{socket.gethostname()}:{os.getpid()}"

    def flow_options(self) -> FlowOptions:
        """The flow's own knobs."""
        settings = self._settings
        # One triage may take every model attempt at its full timeout, plus the fallback.
        worst_triage = (
            settings.llm_timeout_seconds
            * ((settings.llm_max_retries + 1) * (settings.triage_validation_retries + 1))
            + settings.llm_retry_max_sleep_seconds
        )
        return FlowOptions(
            ingest=IngestOptions(
                max_body_bytes=settings.alert_max_body_bytes,
                max_json_depth=settings.alert_max_json_depth,
                max_alerts=settings.alert_max_per_payload,
                service_label_order=tuple(settings.service_label_order),
            ),
            runbook_top_k=settings.runbook_top_k,
            approval_ttl_seconds=settings.approval_ttl_seconds,
            reminder_seconds=settings.approval_reminder_seconds,
            replica_id=self.replica_id(),
            action_timeout_seconds=settings.action_timeout_seconds,
            action_claim_margin_seconds=settings.action_claim_margin_seconds,
            triage_lease_seconds=max(60.0, worst_triage),
            reindex_seconds=settings.runbook_reindex_seconds,
            admin_approvers=tuple(settings.incident_admins),
            keep_raw_payloads=settings.keep_raw_payloads,
            storm=StormRule(settings.storm_threshold, settings.storm_window_seconds),
            raw_retention_days=settings.raw_payload_retention_days,
            outbox_retention_days=settings.outbox_retention_days,
            evidence_lookback_seconds=settings.evidence_lookback_seconds,
            evidence_chart_interval_seconds=settings.evidence_chart_interval_seconds,
            follow_up_note_seconds=settings.follow_up_note_seconds,
            update_reminder_seconds=settings.update_reminder_minutes * 60.0,
            drift=DriftRule(
                last=settings.drift_min_corrected,
                threshold=settings.drift_accuracy_threshold,
                post=bool(settings.drift_channel),
            ),
        )

    def delivery_options(self) -> DeliveryOptions:
        """How the outbox retries; a claim outlasts one Slack call (its timeout) with margin."""
        settings = self._settings
        return DeliveryOptions(
            max_attempts=settings.outbox_max_attempts,
            backoff_seconds=settings.outbox_backoff_seconds,
            claim_seconds=settings.slack_api_timeout_seconds + 5.0,
        )

    def web_config(self) -> WebConfig:
        """What the HTTP edge needs."""
        settings = self._settings

        def secret(value: Any) -> bytes | None:
            return value.get_secret_value().encode() if value is not None else None

        return WebConfig(
            webhook_token=secret(settings.alert_webhook_token),
            allow_unauthenticated=settings.alert_webhook_allow_unauthenticated,
            pagerduty_secret=secret(settings.pagerduty_signing_secret),
            max_body_bytes=settings.alert_max_body_bytes,
            read_timeout_seconds=settings.webhook_read_timeout_seconds,
        )

    # the whole bot -----------------------------------------------------------------------------
    def runtime(
        self,
        *,
        store: Backend | None = None,
        notifier: Notifier | None = None,
        directory: Directory | None = None,
        runbook_search: RunbookSearch | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> Runtime:
        """Wire the bot; an invalid policy raises PolicyError (fail closed)."""
        settings = self._settings
        policy = self.policy()
        store = store if store is not None else self.store()
        pipeline = Pipeline(
            store=store,
            coordination=store,
            policy=policy,
            triager=llm.build_triager(settings, store),
            runbooks=runbook_search
            if runbook_search is not None
            else runbooks.lazy_runbooks(settings),
            notifier=notifier if notifier is not None else SilentNotifier(),
            executors=self.executors(policy),
            redactor=self.redactor(),
            directory=directory if directory is not None else NoDirectory(),
            options=self.flow_options(),
            triage_queue=TriageQueue(settings.triage_queue_capacity, settings.triage_workers),
            dispatcher=dispatcher,
            metrics=self.metrics(),
            charts=self.charts(),
        )
        return Runtime(store=store, policy=policy, pipeline=pipeline)

    def sweeps(self, runtime: Runtime) -> dict[str, tuple[float, Any]]:
        """The scheduler's jobs: (every so many seconds, pipeline sweep)."""
        settings = self._settings
        pipeline = runtime.pipeline
        every = settings.scheduler_interval_seconds
        shared = settings.runbook_backend is RunbookBackend.AZURE

        async def reindex(now: Any) -> bool:
            return await pipeline.refresh_runbooks(now, shared_index=shared)

        jobs: dict[str, tuple[float, Any]] = {
            "expire": (every, pipeline.expire_requests),
            "remind": (every, pipeline.remind_waiting),
            "settle": (every, pipeline.settle_lapsed_executions),
            "triage": (every, pipeline.triage_untriaged),
            "reindex": (settings.runbook_reindex_seconds, reindex),
            "outbox": (settings.outbox_interval_seconds, pipeline.deliver_due),
            "prune": (PRUNE_EVERY_SECONDS, pipeline.prune),
            "verify": (settings.verify_interval_seconds, pipeline.verify_due),
            "drift": (DRIFT_EVERY_SECONDS, pipeline.check_drift),
        }
        if settings.update_reminder_minutes > 0:
            jobs["update_reminder"] = (every, pipeline.request_updates)
        return jobs

    def app(self, *, socket_mode: bool = False) -> Starlette:
        """The whole server as one ASGI app (runtime, Slack, sweeps, routes), not started."""
        from bot.compose.serving import build_app

        return build_app(self, self._settings, socket_mode=socket_mode)

    def serve(self, *, host: str, port: int, socket_mode: bool = False) -> int:
        """Run ``incident-bot serve`` until interrupted; returns the process exit code."""
        from bot.compose.serving import serve

        self._settings.check_serve(socket_mode)
        return serve(self, self._settings, host=host, port=port, socket_mode=socket_mode)


def paging_keys(setting: SecretStr | None) -> dict[str, SecretStr]:
    """PAGING_KEYS read as a JSON object of key name -> key; ConfigError naming it otherwise."""
    if setting is None:
        return {}
    try:
        raw = json.loads(setting.get_secret_value())
    except ValueError:
        raw = None
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ConfigError('PAGING_KEYS must be a JSON object of key names to keys: {"NAME": "…"}')
    return {str(name): SecretStr(key) for name, key in raw.items()}


def paging_targets(policy: Policy, keys: Mapping[str, SecretStr]) -> dict[str, PagingTarget]:
    """Each service whose ``oncall.paging`` names a key that PAGING_KEYS holds."""
    targets: dict[str, PagingTarget] = {}
    for name, service in policy.services.items():
        paging = service.oncall.paging
        if paging is not None and paging.key in keys:
            targets[name] = PagingTarget(paging.provider, keys[paging.key], paging.responders)
    return targets
