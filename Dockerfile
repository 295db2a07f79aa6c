# incident-bot: runtime image (no test tooling).
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SQLITE_PATH=/var/lib/incident-bot/incident-bot.db

RUN groupadd --system bot && useradd --system --gid bot --home-dir /app --shell /usr/sbin/nologin bot \
 && mkdir -p /var/lib/incident-bot && chown bot:bot /var/lib/incident-bot

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install .
COPY policies ./policies
COPY runbooks ./runbooks
COPY prompts ./prompts

ENV POLICY_DIR=/app/policies RUNBOOK_DIR=/app/runbooks PROMPT_DIR=/app/prompts

USER bot
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"
# serve refuses to start with open webhooks: pass ALERT_WEBHOOK_TOKEN (docs/deploy.md), or
# ALERT_WEBHOOK_ALLOW_UNAUTHENTICATED=true on purpose for a local trial.
CMD ["incident-bot", "serve", "--host", "0.0.0.0", "--port", "8080"]
