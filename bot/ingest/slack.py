"""Alert messages other bots post into Slack: an Events API body or the bare message.

One alert per attachment that carries a title or text; a message without attachments
yields one alert read from its blocks and text.
"""

from __future__ import annotations

from datetime import datetime

from bot.ingest import fields, slack_text
from bot.ingest.alerts import Draft, build_alert
from bot.ingest.fields import JsonObject, at
from bot.ingest.values import IngestOptions, ParsedPayload
from bot.models import AlertStatus

SOURCE = "slack"


def _message(root: JsonObject) -> tuple[JsonObject, str]:
    kind = fields.text(root, "type", "")
    if kind == "url_verification":
        raise fields.invalid(
            "type", "a Slack URL verification request is not an alert; use /slack/events"
        )
    if kind == "event_callback" or "event" in root:
        message, path = fields.member_object(root, "event", "", required=True), "event"
    else:
        message, path = root, ""
    event_type = fields.text(message, "type", path)
    if event_type and event_type != "message":
        raise fields.invalid(
            at(path, "type"), f'expected a "message" event, got {event_type[:40]!r}'
        )
    posted_by_bot = fields.text(message, "subtype", path) == "bot_message" or bool(
        fields.text(message, "bot_id", path)
    )
    if not posted_by_bot:
        raise fields.invalid(
            path,
            "not a bot message (no bot_id and subtype is not bot_message); alerts come from bots",
        )
    return message, path


def _field_labels(items: list[object], path: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for index, item in enumerate(items):
        entry = fields.as_object(item, at(path, index))
        key, value = slack_text.field_pair(
            fields.text(entry, "title", at(path, index)),
            fields.text(entry, "value", at(path, index)),
        )
        if key and value:
            labels.setdefault(key, value)
    return labels


def _block_text(block: JsonObject, path: str) -> str:
    inner = block.get("text")
    if isinstance(inner, dict):
        return fields.text(inner, "text", at(path, "text"))
    return fields.text(block, "text", path)


def _blocks(message: JsonObject, path: str) -> tuple[str, list[str], dict[str, str]]:
    header, texts, labels = "", list[str](), dict[str, str]()
    where = at(path, "blocks")
    for index, item in enumerate(fields.member_list(message, "blocks", path)):
        block, block_path = fields.as_object(item, at(where, index)), at(where, index)
        kind = fields.text(block, "type", block_path)
        if kind == "header" and not header:
            header = _block_text(block, block_path)
        elif kind == "section":
            texts.append(_block_text(block, block_path))
            for f_index, f_item in enumerate(fields.member_list(block, "fields", block_path)):
                f_path = at(at(block_path, "fields"), f_index)
                title, _, value = _block_text(fields.as_object(f_item, f_path), f_path).partition(
                    "\n"
                )
                key, found = slack_text.field_pair(title, value)
                if key and found:
                    labels.setdefault(key, found)
        elif kind == "context":
            for e_index, element in enumerate(fields.member_list(block, "elements", block_path)):
                e_path = at(at(block_path, "elements"), e_index)
                texts.append(_block_text(fields.as_object(element, e_path), e_path))
    return header, [t for t in texts if t], labels


def _draft(title_raw: str, body: str, labels: dict[str, str], color: str, url: str) -> Draft:
    title = slack_text.read_title(title_raw)
    text = slack_text.clean(body)
    merged = {**title.labels, **slack_text.pairs(text), **labels}
    status = title.status or slack_text.status_from(merged, color) or AlertStatus.FIRING
    return Draft(
        title=title.title,
        labels={k: v for k, v in merged.items() if k not in slack_text.PROSE_KEYS},
        annotations={k: v for k, v in merged.items() if k in slack_text.PROSE_KEYS},
        description=text,
        status=status,
        url=url,
    )


def _attachment_drafts(message: JsonObject, path: str, fallback_text: str) -> list[Draft]:
    drafts = []
    where = at(path, "attachments")
    for index, item in enumerate(fields.member_list(message, "attachments", path)):
        attachment, a_path = fields.as_object(item, at(where, index)), at(where, index)
        title = fields.text(attachment, "title", a_path) or fields.text(
            attachment, "fallback", a_path
        )
        body = fields.text(attachment, "text", a_path) or fields.text(attachment, "pretext", a_path)
        if not (title or body):
            continue
        drafts.append(
            _draft(
                title or fallback_text or body,
                body,
                _field_labels(
                    fields.member_list(attachment, "fields", a_path), at(a_path, "fields")
                ),
                fields.text(attachment, "color", a_path),
                fields.text(attachment, "title_link", a_path),
            )
        )
    return drafts


def read_message(message: JsonObject, path: str) -> list[Draft]:
    """Drafts for every alert a bot message carries."""
    text = fields.text(message, "text", path)
    drafts = _attachment_drafts(message, path, text)
    if not drafts:
        header, texts, labels = _blocks(message, path)
        body = "\n".join(texts) or text
        title = header or text or body
        if title.strip():
            drafts.append(_draft(title, body, labels, "", ""))
    if not drafts:
        raise fields.invalid(path, "the message has no text, attachments or blocks to read")
    posted = fields.epoch_time(message, "ts", path)
    for draft in drafts:
        draft.starts_at = posted
        draft.ends_at = posted if draft.status is AlertStatus.RESOLVED else None
    return drafts


def parse(document: object, received_at: datetime, options: IngestOptions) -> ParsedPayload:
    """Alerts from a Slack bot message."""
    message, path = _message(fields.as_object(document, ""))
    drafts = read_message(message, path)
    return ParsedPayload(alerts=[build_alert(SOURCE, d, received_at, options) for d in drafts])
