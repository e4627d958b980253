"""Exactly-once delivery of one channel: the claim (pending → sending under a lease), the end
(sent, skipped or failed) and the release after a failure, as pure steps over the stored record.

The adapter applies a step atomically (read the entry, decide, write under the update time it
read; a lost race reads and decides again), so two attempts never both hold a live claim, and a
finished record is never claimed again. The only duplicate left is the provider's: an attempt
that handed the message over and crashed before it recorded ``sent`` leaves a claim whose lease
ends, and the next attempt sends again (``docs/notifications.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from celeste.notifications.inbox import FINAL, ChannelState

#: What a claim decided: ``send`` (this attempt holds the claim), ``done`` (already final or
#: never due), ``busy`` (another attempt's lease is live: try again after it), ``exhausted``
#: (out of attempts: recorded as failed).
ClaimOutcome = Literal["send", "done", "busy", "exhausted"]


@dataclass(frozen=True)
class Claimed:
    """A claim's decision, the record to write (``None``: write nothing) and the attempt
    number that is this claim's token."""

    outcome: ClaimOutcome
    record: ChannelState | None
    attempt: int = 0


def claim(
    state: ChannelState | None, *, now: datetime, lease: timedelta, max_attempts: int
) -> Claimed:
    """Claim the channel for one attempt, if it is due and nobody holds it."""
    if state is None or state.status in FINAL:
        return Claimed("done", None)
    if state.status == "sending" and state.lease_until is not None and state.lease_until > now:
        return Claimed("busy", None)
    if state.attempts >= max_attempts:
        failed = state.model_copy(
            update={"status": "failed", "lease_until": None, "reason": "out of attempts"}
        )
        return Claimed("exhausted", failed)
    attempt = state.attempts + 1
    held = state.model_copy(
        update={"status": "sending", "attempts": attempt, "lease_until": now + lease}
    )
    return Claimed("send", held, attempt)


def _holds(state: ChannelState | None, attempt: int) -> bool:
    return state is not None and state.status == "sending" and state.attempts == attempt


def handed_over(state: ChannelState | None, *, attempt: int) -> ChannelState | None:
    """Count a hand-over to the provider by the claim ``attempt`` (``None``: not its claim)."""
    if not _holds(state, attempt):
        return None
    assert state is not None
    return state.model_copy(update={"handed_over": state.handed_over + 1})


def finish(
    state: ChannelState | None,
    *,
    attempt: int,
    status: Literal["sent", "skipped", "failed"],
    now: datetime,
    reason: str | None = None,
) -> ChannelState | None:
    """End the claim ``attempt`` with ``status``; ``None`` when the claim is no longer this
    attempt's (its lease ended and another attempt took over: that one records the end)."""
    if not _holds(state, attempt):
        return None
    assert state is not None
    return state.model_copy(
        update={
            "status": status,
            "lease_until": None,
            "reason": reason,
            "sent_at": now if status == "sent" else None,
        }
    )


def release(state: ChannelState | None, *, attempt: int, reason: str) -> ChannelState | None:
    """Give the claim ``attempt`` back after a failure worth retrying: ``pending`` again."""
    if not _holds(state, attempt):
        return None
    assert state is not None
    return state.model_copy(update={"status": "pending", "lease_until": None, "reason": reason})
