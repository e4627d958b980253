"""A stored value with its opaque version (served as the ``ETag``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Versioned(Generic[T]):
    """A stored value and its opaque version, served as the ``ETag``."""

    value: T
    version: str
