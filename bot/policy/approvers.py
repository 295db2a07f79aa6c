"""Who may approve: Slack user ids directly, or members of Slack user groups."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.models import Approval, Vote


def is_group(approver_id: str) -> bool:
    """Slack user-group ids start with S; user ids with U or W."""
    return approver_id.startswith("S")


def is_eligible(
    user_id: object, approvers: Iterable[str], group_members: Mapping[str, frozenset[str]]
) -> bool:
    """True when ``user_id`` is listed directly or belongs to a listed user group."""
    if not isinstance(user_id, str) or not user_id or is_group(user_id):
        return False
    for approver in approvers:
        if is_group(approver):
            if user_id in group_members.get(approver, frozenset()):
                return True
        elif approver == user_id:
            return True
    return False


def tally(
    approvals: Iterable[Approval],
    approvers: Iterable[str],
    group_members: Mapping[str, frozenset[str]],
    requester: str,
) -> tuple[list[str], list[str], list[str], list[str]]:
    """Split votes into (counted approvers, vetoes, ignored requester votes, ignored others)."""
    approvers = tuple(approvers)
    counted: list[str] = []
    vetoes: list[str] = []
    by_requester: list[str] = []
    ineligible: list[str] = []
    for approval in approvals:
        user = approval.user_id
        if user == requester:
            by_requester.append(user)
        elif not is_eligible(user, approvers, group_members):
            ineligible.append(user)
        elif approval.vote == Vote.DENY:
            vetoes.append(user)
        elif approval.vote == Vote.APPROVE and user not in counted:
            counted.append(user)
    return counted, vetoes, by_requester, ineligible
