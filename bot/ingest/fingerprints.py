"""Alert identity: a stable fingerprint and the key alerts are grouped into incidents by."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

# Labels that say which alert this is, as opposed to its current state or value.
IDENTIFYING_LABELS: tuple[str, ...] = (
    "alertname",
    "service",
    "instance",
    "host",
    "hostname",
    "job",
    "namespace",
    "pod",
    "container",
    "env",
    "environment",
    "cluster",
    "region",
    "monitor_id",
)

_STATUS_PREFIX = re.compile(r"^(?:\s*\[[^\]]*\]\s*)+")
_NON_WORD = re.compile(r"[\W_]+")


def normalise_title(title: str) -> str:
    """Lower-case slug of a title without leading ``[FIRING:1]``-style brackets."""
    slug = _NON_WORD.sub("-", _STATUS_PREFIX.sub("", title).casefold()).strip("-")
    return slug[:80] or "untitled"


def stable_fingerprint(source: str, labels: Mapping[str, str], title: str = "") -> str:
    """sha256 over the source and the identifying labels (and the title without alertname)."""
    identity = [[name, labels[name]] for name in IDENTIFYING_LABELS if name in labels]
    if "alertname" not in labels:
        identity.append(["title", normalise_title(title)])
    material = json.dumps([source, identity], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(material.encode("ascii")).hexdigest()[:32]


def keyed_fingerprint(source: str, *parts: str) -> str:
    """sha256 over the source and a source's own identifiers (e.g. monitor id + group)."""
    material = json.dumps([source, *parts], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(material.encode("ascii")).hexdigest()[:32]


def group_key(source: str, service: str, alertname: str, title: str) -> str:
    """Fallback group key when the source has none: source, service and alert name."""
    name = alertname.strip() or normalise_title(title)
    return f"{source}:{service}:{name}"
