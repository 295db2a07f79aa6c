"""The durable outbox: every chat message is stored before it is sent, and sent once.

    Dispatcher.send       store a delivery, try it at once (the happy path stays fast)
    Dispatcher.deliver_due  sweep: send what is due, from any replica; each attempt holds a
                          claim (owner + deadline, compare-and-swap); a lapsed claim is taken
    Delivering.deliver_due  the pipeline's sweep: the dispatcher's, then record outcomes (a late
                          card's message id on its requests and incident; a failure on the
                          timeline) and the outbox gauges

Cards stay in order. A card post that has not landed leaves a placeholder where its message id
would be; updates and thread replies naming it wait. When the post goes out it carries the
newest pending update's content (those updates are folded into it); after that, updates of one
message go out one at a time under a lease on that message, and an update older than one
already sent or waiting is superseded rather than sent.
"""

from __future__ import annotations

import logging
import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count

from bot import incidents, metrics, timeline
from bot.cas import read_modify_write
from bot.deliveries import (
    Delivery,
    DeliveryKind,
    DeliveryState,
    placeholder,
)
from bot.errors import Conflict, NotFound
from bot.models import BOT_ACTOR, ActionRequest, EventKind, Incident
from bot.pipeline.stage import Stage
from bot.ports import Backend, Clock, Courier, Sent

log = logging.getLogger(__name__)

_ORDER = count()
_LIVE = (DeliveryState.PENDING, DeliveryState.DELIVERED)


@dataclass(frozen=True)
class DeliveryOptions:
    """How hard the outbox tries (OUTBOX_* settings)."""

    max_attempts: int = 8
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 300.0
    # An attempt's claim: the chat client's timeout plus a margin; then anyone may take over.
    claim_seconds: float = 30.0
    batch: int = 200


def backoff(attempts: int, options: DeliveryOptions) -> float:
    """Seconds before the next try after ``attempts`` failures: doubling, half of it jittered."""
    ceiling = min(options.max_backoff_seconds, options.backoff_seconds * 2.0 ** (attempts - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class Dispatcher:
    """Writes deliveries and sends them through the ``Courier``; the chat adapter's ``Postbox``."""

    def __init__(
        self,
        store: Backend,
        courier: Courier,
        clock: Clock,
        *,
        replica_id: str = BOT_ACTOR,
        options: DeliveryOptions | None = None,
    ) -> None:
        self.store = store
        self.courier = courier
        self.clock = clock
        self.replica_id = replica_id
        self.options = options or DeliveryOptions()

    async def send(self, delivery: Delivery) -> Delivery:
        """Store ``delivery`` (pending, due now), then try it once; its state afterwards."""
        now = self.clock()
        stored = delivery.model_copy(
            update={
                "created_at": now,
                "next_attempt_at": now,
                "seq": delivery.seq or f"{now:%Y%m%dT%H%M%S%f}-{next(_ORDER):09d}",
                "card": delivery.card
                or (delivery.id if delivery.kind is DeliveryKind.CARD else ""),
            }
        )
        await self.store.add_delivery(stored)
        return await self._deliver(stored, now, swept=False)

    async def deliver_due(self, now: datetime) -> int:
        """Sweep: try every due delivery once; how many were delivered."""
        delivered = 0
        for due in await self.store.list_due_deliveries(now, self.options.batch):
            try:
                done = await self._deliver(due, now, swept=True)
            except Exception:
                # One delivery the store cannot settle must not stop the others.
                log.exception("delivery attempt failed", extra={"delivery_id": due.id})
                continue
            delivered += done.state is DeliveryState.DELIVERED
        return delivered

    # one delivery -------------------------------------------------------------------------------
    async def _deliver(self, delivery: Delivery, now: datetime, *, swept: bool) -> Delivery:
        thread = delivery.thread
        waits_for = delivery.waits_for
        if waits_for is not None:
            head = await self.store.get_delivery(waits_for)
            if head.state is DeliveryState.PENDING:
                return delivery  # the post carries it (folded) or it goes right after
            if head.state is not DeliveryState.DELIVERED:
                if delivery.kind is DeliveryKind.UPDATE:
                    # The post failed and is reported; its updates have nothing to update.
                    return await self._finish(delivery, DeliveryState.FAILED, "card_not_posted")
                thread = None  # a reply whose thread never landed goes to the channel itself
            else:
                thread = head.ts
        if delivery.kind is DeliveryKind.UPDATE:
            return await self._update(delivery, thread, now, swept=swept)
        return await self._post(delivery, thread, now, swept=swept)

    async def _post(
        self, delivery: Delivery, thread: str | None, now: datetime, *, swept: bool
    ) -> Delivery:
        folded: list[Delivery] = []
        if delivery.kind is DeliveryKind.CARD:
            folded = [
                d
                for d in await self.store.list_card_deliveries(delivery.id)
                if d.kind is DeliveryKind.UPDATE and d.state is DeliveryState.PENDING
            ]
        claimed = await self._claim(delivery, now)
        if claimed is None:
            return delivery
        content = claimed.model_copy(update={"payload": folded[-1].payload}) if folded else claimed
        result = await self._settle(claimed, await self._attempt(content, thread), swept=swept)
        if result.state is DeliveryState.DELIVERED:
            for update in folded:
                await self._finish(update, DeliveryState.SUPERSEDED, "folded into the post")
        return result

    async def _update(
        self, delivery: Delivery, thread: str | None, now: datetime, *, swept: bool
    ) -> Delivery:
        if thread is None:
            return await self._finish(delivery, DeliveryState.FAILED, "no_message_to_update")
        target = f"{delivery.channel}/{thread}"
        lease = f"outbox:message:{target}"
        owner = f"{self.replica_id}/{secrets.token_hex(6)}"
        if not await self.store.acquire_lease(lease, owner, now, self.options.claim_seconds):
            return delivery  # another attempt is updating this message; the sweep comes back
        try:
            keys = {delivery.card, target} - {""}
            newer = [
                d
                for key in sorted(keys)
                for d in await self.store.list_card_deliveries(key)
                if d.kind is DeliveryKind.UPDATE
                and d.id != delivery.id
                and d.seq > delivery.seq
                and d.state in _LIVE
            ]
            if newer:
                return await self._finish(delivery, DeliveryState.SUPERSEDED, "a newer update")
            claimed = await self._claim(delivery, now)
            if claimed is None:
                return delivery
            return await self._settle(claimed, await self._attempt(claimed, thread), swept=swept)
        finally:
            await self.store.release_lease(lease, owner, self.clock())

    async def _attempt(self, delivery: Delivery, thread: str | None) -> Sent:
        try:
            return await self.courier.send(delivery, thread)
        except Exception as exc:
            # The courier translates what the chat tool answers; anything else is ours, and
            # still only one failed attempt.
            log.exception("courier raised", extra={"delivery_id": delivery.id})
            return Sent(ok=False, error=f"unexpected:{type(exc).__name__}")

    # state changes ------------------------------------------------------------------------------
    async def _claim(self, delivery: Delivery, now: datetime) -> Delivery | None:
        """Take the delivery for one attempt (CAS); None when it is not ours to send now."""
        try:
            current = await self.store.get_delivery(delivery.id)
        except NotFound:
            return None
        held = current.claimed_until is not None and current.claimed_until > now
        if current.state is not DeliveryState.PENDING or held or current.next_attempt_at > now:
            return None
        claim = {
            "claimed_by": f"{self.replica_id}/{secrets.token_hex(6)}",
            "claimed_until": now + timedelta(seconds=self.options.claim_seconds),
        }
        try:
            return await self.store.update_delivery(current.model_copy(update=claim))
        except Conflict:
            return None  # another replica claimed it first

    async def _settle(self, claimed: Delivery, sent: Sent, *, swept: bool) -> Delivery:
        """Record one attempt's outcome and let the claim go."""
        now = self.clock()
        attempts = claimed.attempts + 1
        change: dict[str, object] = {"attempts": attempts, "claimed_by": "", "claimed_until": None}
        if sent.ok:
            change |= {
                "state": DeliveryState.DELIVERED,
                "ts": sent.ts,
                "delivered_at": now,
                "last_error": "",
                # Whoever asked got the message id back; a late one the sweep has to record.
                "reported": not (swept and claimed.kind in _PLACED),
            }
            metrics.OUTBOX_DELIVERED.labels(claimed.kind.value).inc()
        elif sent.permanent or attempts >= self.options.max_attempts:
            reason = sent.error if sent.permanent else "attempts_exhausted"
            change |= {
                "state": DeliveryState.FAILED,
                "last_error": sent.error if sent.permanent else f"{reason}: {sent.error}",
                "reported": False,
            }
            metrics.OUTBOX_FAILED.labels(reason).inc()
        else:
            wait = (
                sent.retry_after
                if sent.retry_after is not None
                else backoff(attempts, self.options)
            )
            wait = min(max(wait, 0.0), self.options.max_backoff_seconds)
            change |= {"next_attempt_at": now + timedelta(seconds=wait), "last_error": sent.error}
            metrics.OUTBOX_RETRIES.labels(sent.error.split(":")[0] or "unknown").inc()
        try:
            return await self.store.update_delivery(claimed.model_copy(update=change))
        except Conflict:
            # Our claim lapsed and someone took over: their attempt's record wins.
            log.warning("delivery claim lost", extra={"delivery_id": claimed.id})
            return await self.store.get_delivery(claimed.id)

    async def _finish(self, delivery: Delivery, state: DeliveryState, why: str) -> Delivery:
        """End a pending delivery without sending it (superseded, or its card never landed)."""

        def change(current: Delivery) -> Delivery | None:
            if current.state is not DeliveryState.PENDING:
                return None
            return current.model_copy(update={"state": state, "last_error": why})

        stored, _ = await read_modify_write(
            lambda: self.store.get_delivery(delivery.id),
            self.store.update_delivery,
            change,
            what=f"delivery {delivery.id}",
        )
        return stored


_PLACED = (DeliveryKind.CARD, DeliveryKind.ANNOUNCEMENT)


class Delivering(Stage):
    """The outbox sweep, and recording what the outbox reports back."""

    async def deliver_due(self, now: datetime) -> int:
        """Sweep: send what is due, record late message ids and failures, update the gauges."""
        if self.dispatcher is None:
            return 0
        delivered = await self.dispatcher.deliver_due(now)
        outbox = self.dispatcher.store
        for done in await outbox.list_unreported_deliveries(self.dispatcher.options.batch):
            try:
                await self._record_delivery(done, now)
                await outbox.update_delivery(done.model_copy(update={"reported": True}))
            except Conflict:
                continue  # another replica recorded it meanwhile (or will, next sweep)
            except Exception:
                log.exception("recording a delivery failed", extra={"delivery_id": done.id})
        pending, oldest = await outbox.delivery_backlog()
        metrics.OUTBOX_PENDING.set(pending)
        metrics.OUTBOX_OLDEST_PENDING_SECONDS.set(
            max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
        )
        return delivered

    async def _record_delivery(self, done: Delivery, now: datetime) -> None:
        if done.state is DeliveryState.FAILED:
            log.warning(
                "chat message not delivered",
                extra={"delivery_id": done.id, "incident_id": done.incident_id,
                       "error": done.last_error},
            )  # fmt: skip
            if done.incident_id is not None:
                await timeline.note(
                    self.store,
                    done.incident_id,
                    at=now,
                    actor=BOT_ACTOR,
                    kind=EventKind.DELIVERY_FAILED,
                    message=(
                        f"{done.kind.value} to {done.channel} not delivered after "
                        f"{done.attempts} attempt(s): {done.last_error}"
                    ),
                    delivery_id=done.id,
                    reason=done.last_error,
                    request_ids=done.request_ids,
                )
            return
        if done.state is DeliveryState.DELIVERED and done.ts and done.kind in _PLACED:
            await self._place_late(done, done.ts)

    async def _place_late(self, done: Delivery, ts: str) -> None:
        """A post that landed after its asker had moved on: swap its placeholder for ``ts``."""
        stand_in = placeholder(done.id)
        for request_id in done.request_ids:

            def swap(request: ActionRequest) -> ActionRequest | None:
                if request.card is None or request.card.thread != stand_in:
                    return None
                request.card = request.card.model_copy(update={"thread": ts})
                return request

            try:
                await read_modify_write(
                    lambda rid=request_id: self.store.get_action_request(rid),  # type: ignore[misc]
                    self.store.update_action_request,
                    swap,
                    what=f"request {request_id}",
                )
            except NotFound:
                continue
        if done.incident_id is None:
            return

        def move(incident: Incident) -> Incident | None:
            if incident.conversation is None or incident.conversation.thread != stand_in:
                return None
            incident.conversation = incident.conversation.model_copy(update={"thread": ts})
            return incident

        try:
            await incidents.mutate_incident(self.store, done.incident_id, move)
        except NotFound:
            return
