"""What every Slack listener shares, and the one error policy for work done after ``ack()``."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.app import Services
from bot.errors import BotError
from bot.redaction import Redactor
from bot.slack import messages
from bot.slack.approvers import ApproverDirectory
from bot.slack.notifier import SlackNotifier
from bot.slack.outbox import Outbox
from bot.web import BackgroundWork

log = logging.getLogger(__name__)

Reply = Callable[[str], Awaitable[object]]


@dataclass
class SlackRuntime:
    """The services plus the Slack-side parts the listeners need."""

    services: Services
    outbox: Outbox
    notifier: SlackNotifier
    approvers: ApproverDirectory
    redactor: Redactor
    work: BackgroundWork

    def after_ack(self, job: Awaitable[None], name: str, reply: Reply) -> None:
        """Run slow work after the ack; errors become an ephemeral ``reply``, never a trace."""

        async def guarded() -> None:
            try:
                await job
            except BotError as exc:
                log.warning("slack work refused", extra={"work": name, "error": str(exc)})
                await reply(messages.known_error(str(exc)))
            except Exception:
                correlation = secrets.token_hex(4)
                log.exception(
                    "slack work failed", extra={"work": name, "correlation_id": correlation}
                )
                await reply(messages.internal_error(correlation))

        self.work.start(guarded(), name)
