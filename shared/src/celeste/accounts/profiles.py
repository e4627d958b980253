"""Accounts: registration, the customer profile, what a customer and an admin may change in it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    StringConstraints,
    field_validator,
)

from celeste.accounts.tiers import CustomerStats, TierCode, orders_last_30_days
from celeste.kernel.addresses import SavedAddress, upgrade_stored
from celeste.kernel.errors import ValidationFailed

#: The roles: the ``role`` custom claim says ``admin``; everyone else is a customer.
Role = Literal["admin", "customer"]
ROLES: tuple[Role, ...] = ("admin", "customer")

#: At most this many saved addresses a profile.
MAX_ADDRESSES = 10

#: RFC 5321's limits: a whole address of 254 characters, a local part of 64.
MAX_EMAIL_LENGTH = 254
MAX_LOCAL_PART_LENGTH = 64

_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_EMAIL_RE = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[a-z]{{2,63}}")


def _check_email(value: str) -> str:
    local, _, _domain = value.partition("@")
    if not _EMAIL_RE.fullmatch(value) or len(local) > MAX_LOCAL_PART_LENGTH:
        raise ValueError("not a valid email address")
    return value


#: An email address, trimmed and lower-cased before it is checked (so ``A@X.COM`` is ``a@x.com``).
Email = Annotated[
    StrictStr,
    StringConstraints(strip_whitespace=True, to_lower=True, min_length=3, max_length=254),
    AfterValidator(_check_email),
]

#: A password as the client chose it: never trimmed, never echoed back.
Password = Annotated[StrictStr, StringConstraints(min_length=8, max_length=128)]

# One line of text: trimmed, no control characters (so no newlines smuggled into labels).
_ONE_LINE = r"^[^\x00-\x1f\x7f]*$"


def _line(min_length: int, max_length: int) -> object:
    return StringConstraints(
        strip_whitespace=True, min_length=min_length, max_length=max_length, pattern=_ONE_LINE
    )


DisplayName = Annotated[StrictStr, _line(1, 100)]

#: The profile's own number, to reach the customer by: E.164 only (``+``, a country code that
#: does not start with 0, 7 to 15 digits), unlike an address's or a store's ``Phone``, which is
#: kept as people write it.
E164Phone = Annotated[StrictStr, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]

Addresses = Annotated[list[SavedAddress], Field(max_length=MAX_ADDRESSES)]


class NotificationPreferences(BaseModel):
    """Which channels besides the inbox (always on) reach the user: ``email`` and ``push``,
    both on unless the user turned them off (``docs/notifications.md``)."""

    model_config = ConfigDict(extra="ignore")

    email: bool = True
    push: bool = True


class NotificationPreferencesPatch(BaseModel):
    """``notifications`` in ``PATCH /me``: the channels sent change, the others stay."""

    model_config = ConfigDict(extra="forbid")

    email: StrictBool | None = None
    push: StrictBool | None = None

    def applied_to(self, current: NotificationPreferences) -> NotificationPreferences:
        """``current`` with the channels this patch names (``null`` refused)."""
        sent = _refuse_nulls(self.model_dump(exclude_unset=True), ("email", "push"))
        return current.model_copy(update=sent)


class RegisterRequest(BaseModel):
    """Body of ``POST /auth/register``."""

    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password
    display_name: DisplayName


class LinkedRegisterRequest(BaseModel):
    """Body of ``POST /auth/register/linked``: the signed-in caller's email and password are
    already on their account (a guest linked them with the client SDK); only the name is new."""

    model_config = ConfigDict(extra="forbid")

    display_name: DisplayName


def _refuse_nulls(sent: dict[str, object], names: tuple[str, ...]) -> dict[str, object]:
    for name in names:
        if name in sent and sent[name] is None:
            raise ValidationFailed.on(name, "may not be null")
    return sent


class ProfilePatch(BaseModel):
    """Body of ``PATCH /me``: only these fields; ``role``, ``tier``, ``stats`` are unknown (400).

    ``phone: null`` removes the phone number; ``addresses`` replaces the whole list.
    """

    model_config = ConfigDict(extra="forbid")

    display_name: DisplayName | None = None
    phone: E164Phone | None = None
    addresses: Addresses | None = None
    notifications: NotificationPreferencesPatch | None = None

    def changes(self) -> dict[str, object]:
        """The fields the client sent, ``null`` only where it means something (``phone``);
        ``notifications`` as its patch (merged into the stored preferences by the service)."""
        sent = _refuse_nulls(
            self.model_dump(exclude_unset=True), ("display_name", "addresses", "notifications")
        )
        if self.notifications is not None:
            sent["notifications"] = self.notifications
        return sent


class AdminUserPatch(BaseModel):
    """Body of ``PATCH /users/{uid}``: the fields only an admin may set."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    tier: TierCode | None = None
    tier_locked: StrictBool | None = None
    disabled: StrictBool | None = None

    def changes(self) -> dict[str, object]:
        """The fields the client sent; none of them may be ``null``."""
        return _refuse_nulls(
            self.model_dump(exclude_unset=True), ("role", "tier", "tier_locked", "disabled")
        )


@dataclass(frozen=True)
class Identity:
    """Who the identity provider (or a verified token) says a user is."""

    uid: str
    email: str | None
    display_name: str | None = None
    role: Role = "customer"


class Profile(BaseModel):
    """The stored profile document ``users/{uid}``.

    Unknown stored fields are ignored on read, so a field another writer adds later never breaks
    a profile read; writes name the fields they change and leave the rest alone.
    """

    model_config = ConfigDict(extra="ignore")

    uid: str
    email: str | None = None
    display_name: str
    phone: str | None = None
    addresses: list[SavedAddress] = Field(default_factory=list)
    role: Role = "customer"
    tier: str
    tier_locked: bool = False
    disabled: bool = False
    stats: CustomerStats = Field(default_factory=CustomerStats)
    notifications: NotificationPreferences = Field(default_factory=NotificationPreferences)
    created_at: datetime
    updated_at: datetime

    @field_validator("addresses", mode="before")
    @classmethod
    def _stored_vocabulary(cls, value: object) -> object:
        """Addresses stored before the one address model (``recipient``) read as today's."""
        return [upgrade_stored(a) for a in value] if isinstance(value, list) else value


def fallback_display_name(identity: Identity) -> str:
    """A display name for a profile made from a token: its ``name``, the email's local part,
    or ``Customer``, cut to the allowed length."""
    for candidate in (identity.display_name, (identity.email or "").partition("@")[0]):
        cleaned = re.sub(r"[\x00-\x1f\x7f]", "", candidate or "").strip()
        if cleaned:
            return cleaned[:100].strip()
    return "Customer"


class StatsView(BaseModel):
    """A customer's stats as the API shows them (the 30-day count derived at read time):
    ``lifetime_spend`` maps each currency spent in to its minor units."""

    orders_count: int
    lifetime_spend: dict[str, int]
    orders_last_30_days: int


class ProfileView(BaseModel):
    """A profile as ``GET /me`` and ``/users`` return it."""

    uid: str
    email: str | None
    display_name: str
    phone: str | None
    addresses: list[SavedAddress]
    role: Role
    tier: str
    tier_locked: bool
    disabled: bool
    stats: StatsView
    notifications: NotificationPreferences
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, profile: Profile, *, now: datetime) -> ProfileView:
        """The view of ``profile`` at instant ``now``."""
        stats = profile.stats
        return cls(
            **profile.model_dump(exclude={"stats", "addresses", "notifications"}),
            notifications=profile.notifications.model_copy(),
            addresses=[a.model_copy() for a in profile.addresses],
            stats=StatsView(
                orders_count=stats.orders_count,
                lifetime_spend=dict(stats.lifetime_spend),
                orders_last_30_days=orders_last_30_days(stats, now=now),
            ),
        )
