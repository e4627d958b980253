"""Events: what a committed change tells the world outside (the outbox, ``docs/events.md``).

An event is written in the same atomic commit as the change it reports, as the new document
``events/{id}``. Its id is deterministic (the aggregate and its own version), so the create of
the event document is itself the record that the change happened once: a second commit of the
same change, or a redelivered trigger repeating it, finds the document and fails as a whole.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class Aggregate(BaseModel):
    """What an event is about: ``kind`` (``order``) and the aggregate's id."""

    model_config = ConfigDict(frozen=True)

    kind: str
    id: str


class Event(BaseModel):
    """One change of one aggregate. ``sequence`` is the aggregate's own version in event terms
    (1, 2, 3, ... per aggregate, strictly increasing, no gaps; never a shared counter);
    ``data`` is the aggregate's public shape after the change."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    aggregate: Aggregate
    sequence: int
    occurred_at: datetime
    data: dict[str, Any]


def event_id(kind: str, aggregate_id: str, sequence: int) -> str:
    """The id of an aggregate's ``sequence``-th event: the same change always has the same id."""
    return f"{kind}-{aggregate_id}-{sequence}"
