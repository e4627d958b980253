"""Identifiers: what a document id may look like before it reaches Firestore."""

from __future__ import annotations

import re
import secrets
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

# Firestore forbids "/" in ids, ids of "." or "..", and ids matching __.*__; we are stricter: a
# plain token of letters, digits, "_" and "-" that starts with a letter or digit (so never "__"),
# at most 128 characters. No look-around: pydantic's regex engine has none.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
_ID_RE = re.compile(ID_PATTERN)

#: A document id as accepted in bodies and query strings.
DocId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


def is_valid_id(value: str) -> bool:
    """Whether ``value`` may be used as a document id."""
    return bool(_ID_RE.fullmatch(value))


def _checked_id(value: str) -> str:
    if not is_valid_id(value):
        raise ValueError("must be 1 to 128 letters, digits, '_' or '-', not starting with '__'")
    return value


#: The same rule as ``DocId``, refused in words rather than by quoting the pattern (the order
#: and refund bodies, whose 400s a shopper's app shows).
CheckedId = Annotated[str, AfterValidator(_checked_id)]


def new_id() -> str:
    """A fresh random id: 20 URL-safe characters, like Firestore's auto ids."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(20))
