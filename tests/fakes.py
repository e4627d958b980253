"""In-memory implementations of the domain's ports, for fast unit tests (no I/O).

Each fake keeps the contract its protocol documents (and the Firestore adapter honours): atomic
uniqueness, a version that changes on every write, ``PreconditionFailed`` on a stale or vanished
version, cursor pagination in a stable order.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from celeste.accounts.profiles import Identity, Profile, Role
from celeste.accounts.tiers import Tier
from celeste.cart.lines import CartLine, CartMerge, WishlistEntry
from celeste.catalog.categories import Category
from celeste.catalog.events import product_event
from celeste.catalog.products import Product
from celeste.catalog.stores import Store, StoreFacts
from celeste.catalog.variants import Option, Variant
from celeste.inventory import stock as inventory
from celeste.inventory.events import announce
from celeste.inventory.records import MovementRecord, StockRecord
from celeste.kernel.addresses import ShippingAddress
from celeste.kernel.cursors import decode_cursor, encode_cursor, refused
from celeste.kernel.errors import (
    Conflict,
    Contention,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from celeste.kernel.events import Event, event_id
from celeste.kernel.outbox_sweep import PageBounds, SweepCursor
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste.notifications.inbox import Channel, ChannelState, Notification
from celeste.notifications.messages import Message
from celeste.orders.events import EVENT_TYPES, ORDER, order_event, refund_events
from celeste.orders.holds import CustomerHolds
from celeste.orders.order import CustomerStanding, IdempotencyRecord, Order
from celeste.orders.payment_provider import (
    Intent,
    InvalidSignature,
    PaymentEvent,
    PaymentSecret,
    ProviderDispute,
    ProviderRefund,
    ProviderUnavailable,
    UnmatchedPayment,
)
from celeste.orders.status import HOLDS_STOCK, OrderStatus
from celeste.ports.accounts import TierSet
from celeste.ports.notifications import PushAnswer
from celeste.ports.webhooks import Recorded
from celeste.pricing.discount_codes import CodeUse, DiscountCode
from celeste.pricing.events import price_list_event
from celeste.pricing.price_lists import PriceList
from celeste.pricing.quotes import PricingSnapshot
from celeste.pricing.shipping import ShippingMethod
from celeste.pricing.tax import TaxRate
from celeste.services.tiers import TierService
from celeste.webhooks.deliveries import Delivery, DeliveryStatus, Outcome
from celeste.webhooks.endpoints import StoredWebhook, Webhook
from celeste.writes import (
    AddEffectMarker,
    AddEvent,
    AddMovement,
    ClearCartLines,
    CreateOrder,
    PutHolds,
    PutIdempotencyKey,
    PutLevel,
    RecordCodeUse,
    UpdateCustomer,
    UpdateOrder,
    Write,
    put_level,
)

_versions = itertools.count(1)

#: A delivery address for tests whose orders are not about fulfilment (a shop with no shipping
#: methods or tax rates charges nothing for it, so their totals are the goods alone).
DELIVERY_ADDRESS = ShippingAddress(name="Ana", line1="Rua 1", city="Lisboa", country="PT")


def _next_version() -> str:
    """A version never handed out before in this process (so never reused after a delete)."""
    return str(next(_versions))


class _Interleaving:
    """A fake that can let one concurrent write in right before its own next write, as a racing
    writer would (queued: one per write; the interleaved write itself does not trigger another)."""

    _interleaving = False

    def interleave(self, write: Callable[[], object]) -> None:
        """Run ``write`` right before the next write reaches this fake."""
        self.__dict__.setdefault("_interleaved", []).append(write)

    def _run_interleaved(self) -> None:
        queue: list[Callable[[], object]] = self.__dict__.get("_interleaved", [])
        if queue and not self._interleaving:
            self._interleaving = True
            try:
                queue.pop(0)()
            finally:
                self._interleaving = False


class InMemoryCategories(_Interleaving):
    """``CategoryRepository`` in a dict; ``products`` maps product id -> category id.

    ``interleave(fn)`` runs ``fn`` just before the next write, standing in for a concurrent
    writer that wins the race between a service's read and its write.
    """

    def __init__(self, products: dict[str, str] | None = None) -> None:
        self.products: dict[str, str] = dict(products or {})
        self._rows: dict[str, Versioned[Category]] = {}
        self._slugs: dict[str, str] = {}
        self._lock = threading.Lock()

    # --- test helpers ------------------------------------------------------------------------

    def slug_owner(self, slug: str) -> str | None:
        """The id of the category holding ``slug``, if any."""
        return self._slugs.get(slug)

    def __len__(self) -> int:
        return len(self._rows)

    # --- CategoryRepository ------------------------------------------------------------------

    def get(self, category_id: str) -> Versioned[Category]:
        row = self._rows.get(category_id)
        if row is None:
            raise NotFound(f"no category {category_id}")
        return Versioned(row.value.model_copy(deep=True), row.version)

    def list(
        self,
        *,
        parent_id: str | None,
        root_only: bool,
        active_only: bool,
        limit: int,
        cursor: str | None,
    ) -> Page[Category]:
        rows = [row.value for row in self._rows.values()]
        if active_only:
            rows = [c for c in rows if c.active]
        if parent_id is not None or root_only:
            rows = [c for c in rows if c.parent_id == parent_id]
        rows.sort(key=_sort_key)
        if cursor:
            after = _decode_cursor(cursor)
            rows = [c for c in rows if _sort_key(c) > after]
        items = [c.model_copy(deep=True) for c in rows[:limit]]
        next_cursor = _encode_cursor(_sort_key(items[-1])) if len(rows) > limit else None
        return Page(items, next_cursor)

    def create(self, category: Category) -> Versioned[Category]:
        self._run_interleaved()
        with self._lock:
            if category.slug in self._slugs or category.id in self._rows:
                raise Conflict(f"slug {category.slug!r} is taken")
            if category.parent_id is not None:
                self._link(category.parent_id, None)
            self._slugs[category.slug] = category.id
            return self._store(category)

    def replace(
        self,
        category: Category,
        *,
        previous_slug: str,
        expected_version: str | None,
        guard: Mapping[str, str] | None = None,
    ) -> Versioned[Category]:
        self._run_interleaved()
        with self._lock:
            current = self._current(category.id, expected_version)
            for ancestor_id, version in (guard or {}).items():
                self._current(ancestor_id, version)
            for ancestor_id, version in (guard or {}).items():
                self._link(ancestor_id, version)
            if previous_slug != current.value.slug:
                raise AssertionError("previous_slug is not the stored slug")
            if category.slug != previous_slug:
                if category.slug in self._slugs:
                    raise Conflict(f"slug {category.slug!r} is taken")
                del self._slugs[previous_slug]
                self._slugs[category.slug] = category.id
            return self._store(category)

    def delete(self, category_id: str, *, slug: str, expected_version: str | None) -> None:
        self._run_interleaved()
        with self._lock:
            current = self._current(category_id, expected_version)
            if slug != current.value.slug:
                raise AssertionError("slug is not the stored slug")
            del self._rows[category_id]
            del self._slugs[slug]

    def has_children(self, category_id: str) -> bool:
        return any(row.value.parent_id == category_id for row in self._rows.values())

    def has_products(self, category_id: str) -> bool:
        return category_id in self.products.values()

    # --- internals ---------------------------------------------------------------------------

    def _current(self, category_id: str, expected_version: str | None) -> Versioned[Category]:
        # Like the adapter: a missing document or a stale version is a failed precondition.
        row = self._rows.get(category_id)
        if row is None:
            raise PreconditionFailed("the resource was deleted since it was read")
        if expected_version is not None and expected_version != row.version:
            raise PreconditionFailed("the resource changed since it was read")
        return row

    def link(self, category_id: str) -> None:
        """File something under ``category_id`` as the products adapter does (moves its version;
        ``PreconditionFailed`` when it is gone)."""
        with self._lock:
            self._link(category_id, None)

    def _link(self, category_id: str, expected_version: str | None) -> None:
        self._store(self._current(category_id, expected_version).value)

    def _store(self, category: Category) -> Versioned[Category]:
        row = Versioned(category.model_copy(deep=True), _next_version())
        self._rows[category.id] = row
        return Versioned(row.value.model_copy(deep=True), row.version)


def _sort_key(category: Category) -> tuple[int, str]:
    return (category.sort_order, category.id)


def _encode_cursor(key: tuple[int, str]) -> str:
    return encode_cursor(list(key))


def _decode_cursor(cursor: str) -> tuple[int, str]:
    sort_order, last_id = decode_cursor(cursor, arity=2)
    if not isinstance(sort_order, int) or not isinstance(last_id, str):
        raise refused()
    return (sort_order, last_id)


# --- accounts ---------------------------------------------------------------------------------


class InMemoryProfiles(_Interleaving):
    """``ProfileRepository`` in a dict.

    ``fail_next_create`` makes the next ``create`` raise it (a storage outage), and
    ``interleave(fn)`` runs ``fn`` just before the next write, like ``InMemoryCategories``.
    """

    def __init__(self) -> None:
        self.fail_next_create: BaseException | None = None
        self.writes = 0
        self._rows: dict[str, Versioned[Profile]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, uid: str) -> Versioned[Profile]:
        row = self._rows.get(uid)
        if row is None:
            raise NotFound(f"no user {uid}")
        return Versioned(row.value.model_copy(deep=True), row.version)

    def create(self, profile: Profile) -> Versioned[Profile]:
        self._run_interleaved()
        if self.fail_next_create is not None:
            failure, self.fail_next_create = self.fail_next_create, None
            raise failure
        with self._lock:
            if profile.uid in self._rows:
                raise Conflict(f"user {profile.uid} already has a profile")
            return self._store(profile)

    def update(
        self, profile: Profile, *, fields: frozenset[str], expected_version: str
    ) -> Versioned[Profile]:
        self._run_interleaved()
        with self._lock:
            row = self._rows.get(profile.uid)
            if row is None:
                raise PreconditionFailed("the resource was deleted since it was read")
            if expected_version != row.version:
                raise PreconditionFailed("the resource changed since it was read")
            changed = {name: getattr(profile, name) for name in fields}
            return self._store(row.value.model_copy(update=changed, deep=True))

    def list(
        self, *, role: Role | None, tier: str | None, limit: int, cursor: str | None
    ) -> Page[Profile]:
        rows = [row.value for row in self._rows.values()]
        rows = [p for p in rows if role is None or p.role == role]
        rows = [p for p in rows if tier is None or p.tier == tier]
        rows.sort(key=_profile_key)
        if cursor:
            after = _decode_profile_cursor(cursor)
            rows = [p for p in rows if _profile_key(p) > after]
        items = [p.model_copy(deep=True) for p in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            key = list(_profile_key(items[-1]))
            next_cursor = encode_cursor(key)
        return Page(items, next_cursor)

    def _store(self, profile: Profile) -> Versioned[Profile]:
        self.writes += 1
        row = Versioned(profile.model_copy(deep=True), _next_version())
        self._rows[profile.uid] = row
        return Versioned(row.value.model_copy(deep=True), row.version)


def _profile_key(profile: Profile) -> tuple[str, str]:
    return (profile.created_at.isoformat(), profile.uid)


def _decode_profile_cursor(cursor: str) -> tuple[str, str]:
    created_at, uid = decode_cursor(cursor, arity=2)
    if not isinstance(created_at, str) or not isinstance(uid, str):
        raise refused()
    return (created_at, uid)


@dataclass
class FakeAccount:
    """One sign-in account of ``FakeIdentity``."""

    uid: str
    email: str
    password: str
    display_name: str | None
    claims: dict[str, object] = field(default_factory=dict)
    disabled: bool = False
    tokens_revoked: bool = False


class FakeIdentity:
    """``IdentityProvider`` in a dict, recording every call in ``calls``; ``fail_on`` makes the
    named method raise the given exception once."""

    def __init__(self) -> None:
        self.accounts: dict[str, FakeAccount] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_on: dict[str, BaseException] = {}
        self._uids = itertools.count(1)

    def add(self, email: str, *, role: str | None = None, display_name: str | None = None) -> str:
        """An account made outside the service (a client SDK sign-up); returns its uid."""
        uid = f"user{next(self._uids)}"
        claims: dict[str, object] = {"role": role} if role else {}
        self.accounts[uid] = FakeAccount(uid, email, "password-x", display_name, claims)
        return uid

    def by_email(self, email: str) -> FakeAccount | None:
        """The account with ``email``, if any."""
        return next((a for a in self.accounts.values() if a.email == email), None)

    def _called(self, method: str, uid: str) -> None:
        self.calls.append((method, uid))
        failure = self.fail_on.pop(method, None)
        if failure is not None:
            raise failure

    def create_user(self, *, email: str, password: str, display_name: str) -> str:
        self._called("create_user", email)
        if self.by_email(email) is not None:
            raise Conflict(f"an account with email {email} already exists")
        uid = f"user{next(self._uids)}"
        self.accounts[uid] = FakeAccount(uid, email, password, display_name)
        return uid

    def delete_user(self, uid: str) -> None:
        self._called("delete_user", uid)
        self.accounts.pop(uid, None)

    def find_by_email(self, email: str) -> Identity:
        self._called("find_by_email", email)
        account = self.by_email(email)
        if account is None:
            raise NotFound(f"no account with email {email}")
        role: Role = "admin" if account.claims.get("role") == "admin" else "customer"
        return Identity(account.uid, account.email, account.display_name, role)

    def set_role_claim(self, uid: str, *, role: Role) -> None:
        self._called("set_role_claim", uid)
        if uid not in self.accounts:
            raise NotFound(f"no account {uid}")
        self.accounts[uid].claims["role"] = role

    def set_disabled(self, uid: str, *, disabled: bool) -> None:
        self._called("set_disabled", uid)
        if uid not in self.accounts:
            raise NotFound(f"no account {uid}")
        self.accounts[uid].disabled = disabled
        if disabled:
            self.accounts[uid].tokens_revoked = True

    def set_display_name(self, uid: str, display_name: str) -> None:
        self._called("set_display_name", uid)
        if uid not in self.accounts:
            raise NotFound(f"no account {uid}")
        self.accounts[uid].display_name = display_name


class InMemoryStoreReferences:
    """``StoreReferences`` over two sets of store ids."""

    def __init__(self) -> None:
        self.stocked: set[str] = set()
        self.with_open_orders: set[str] = set()

    def holds_stock(self, store_id: str) -> bool:
        return store_id in self.stocked

    def has_open_orders(self, store_id: str) -> bool:
        return store_id in self.with_open_orders


class InMemoryStores:
    """``StoreRepository`` in a dict, listing by name then id like the Firestore adapter.

    ``reads`` counts the calls that would cost Firestore reads (so tests can see the cache work).
    """

    def __init__(self) -> None:
        self._rows: dict[str, Versioned[Store]] = {}
        self._lock = threading.Lock()
        self.reads = 0

    def get(self, store_id: str) -> Versioned[Store]:
        self.reads += 1
        row = self._rows.get(store_id)
        if row is None:
            raise NotFound(f"no store {store_id}")
        return Versioned(row.value.model_copy(deep=True), row.version)

    def list(self, *, active_only: bool, limit: int, cursor: str | None) -> Page[Store]:
        self.reads += 1
        rows = sorted(
            (r.value for r in self._rows.values() if r.value.active or not active_only),
            key=lambda s: (s.name, s.id),
        )
        if cursor:
            after = _decode_store_cursor(cursor)
            rows = [s for s in rows if (s.name, s.id) > after]
        items = [s.model_copy(deep=True) for s in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            key = [items[-1].name, items[-1].id]
            next_cursor = encode_cursor(key)
        return Page(items, next_cursor)

    def every(self, *, active_only: bool, limit: int) -> list[Store]:
        self.reads += 1
        rows = sorted(self._rows.values(), key=lambda r: r.value.id)
        return [r.value.model_copy(deep=True) for r in rows if r.value.active or not active_only][
            :limit
        ]

    def count(self) -> int:
        return len(self._rows)

    def create(self, store: Store) -> Versioned[Store]:
        with self._lock:
            if store.id in self._rows:
                raise Conflict(f"store {store.id} already exists")
            return self._store(store)

    def replace(self, store: Store, *, expected_version: str | None) -> Versioned[Store]:
        with self._lock:
            self._current(store.id, expected_version)
            return self._store(store)

    def delete(self, store_id: str, *, expected_version: str | None) -> None:
        with self._lock:
            self._current(store_id, expected_version)
            del self._rows[store_id]

    def _current(self, store_id: str, expected_version: str | None) -> Versioned[Store]:
        row = self._rows.get(store_id)
        if row is None:
            raise PreconditionFailed("the resource was deleted since it was read")
        if expected_version is not None and expected_version != row.version:
            raise PreconditionFailed("the resource changed since it was read")
        return row

    def _store(self, store: Store) -> Versioned[Store]:
        row = Versioned(store.model_copy(deep=True), _next_version())
        self._rows[store.id] = row
        return Versioned(row.value.model_copy(deep=True), row.version)


def _decode_store_cursor(cursor: str) -> tuple[str, str]:
    name, last_id = decode_cursor(cursor, arity=2)
    if not isinstance(name, str) or not isinstance(last_id, str):
        raise refused()
    return (name, last_id)


def ladder(defaults: dict[str, bool] | None = None) -> TierService:
    """A ``TierLadder`` (the real ``TierService``) over tiers named by ``defaults``, which maps
    tier code -> ``is_default``; levels follow the order given (no requirements)."""
    tiers = [
        Tier(code=code, name=code.title(), level=level, is_default=is_default)
        for level, (code, is_default) in enumerate((defaults or {}).items(), start=1)
    ]
    return TierService(repository=InMemoryTiers(tiers))


class InMemoryTiers(_Interleaving):
    """``TierRepository`` in a dict, with the set revision the Firestore adapter keeps.

    ``holders`` maps uid -> tier code (the ``users`` collection's ``tier`` field);
    ``interleave(fn)`` runs ``fn`` just before the next ``save``, standing in for a concurrent
    writer that commits between a service's read and its write.
    """

    def __init__(self, tiers: Sequence[Tier] = ()) -> None:
        self.holders: dict[str, str] = {}
        self._rows: dict[str, Versioned[Tier]] = {
            t.code: Versioned(t, _next_version()) for t in tiers
        }
        self._revision: str | None = _next_version() if tiers else None
        self._lock = threading.Lock()
        self.saves = 0
        self.reads = 0

    def get(self, code: str) -> Versioned[Tier]:
        row = self._rows.get(code)
        if row is None:
            raise NotFound(f"no tier {code}")
        return row

    def tier_set(self) -> TierSet:
        self.reads += 1
        rows = sorted(self._rows.values(), key=lambda r: (r.value.level, r.value.code))
        return TierSet(list(rows), self._revision)

    def tiers(self) -> list[Tier]:
        return [found.value for found in self.tier_set().tiers]

    def save(
        self,
        *,
        revision: str | None,
        create: Sequence[Tier] = (),
        update: Sequence[Versioned[Tier]] = (),
        delete: Sequence[Versioned[Tier]] = (),
    ) -> None:
        self._run_interleaved()
        with self._lock:
            if revision is None:
                # Like the adapter: the first write starts the revision and asks for a re-read.
                self._revision = self._revision or _next_version()
                raise PreconditionFailed("the tier set had no revision yet; read it again")
            if revision != self._revision:
                raise PreconditionFailed("the tier set changed since it was read")
            for found in (*update, *delete):
                row = self._rows.get(found.value.code)
                if row is None or row.version != found.version:
                    raise PreconditionFailed("the tier changed since it was read")
            if any(t.code in self._rows for t in create):
                raise Conflict("a tier with this code already exists")
            for tier in (*create, *(found.value for found in update)):
                self._rows[tier.code] = Versioned(tier, _next_version())
            for found in delete:
                del self._rows[found.value.code]
            self._revision = _next_version()
            self.saves += 1

    def is_held(self, code: str) -> bool:
        return code in self.holders.values()


# --- orders and inventory ---------------------------------------------------------------------


class InMemoryCommerce(_Interleaving):
    """``OrderStore``, ``InventoryStore``, ``StoreDirectory``, ``CustomerStandings``,
    ``TierLadder`` and ``AtomicWriter`` over dicts (one store, as Firestore is one database).

    ``commit`` checks every write's precondition before applying any (all or nothing), like the
    Firestore batch: a moved version, a vanished document or an existing create is
    ``PreconditionFailed``. ``interleave(fn)`` runs ``fn`` just before the next commit (a
    concurrent writer winning the race); ``fail_commits(n)`` makes the next ``n`` commits fail
    as if the database aborted them. ``commits``/``lost_races`` count what happened.
    """

    def __init__(self) -> None:
        self.orders: dict[str, Versioned[Order]] = {}
        self.levels: dict[tuple[str, str], Versioned[StockRecord]] = {}
        self.movements: dict[tuple[str, str, str], MovementRecord] = {}
        self.markers: set[tuple[str, str]] = set()
        #: What each stats marker moved (``AddEffectMarker.amount``), by (order id, marker).
        self.marker_amounts: dict[tuple[str, str], int | None] = {}
        self.keys: dict[str, Versioned[IdempotencyRecord]] = {}
        self.holds_of: dict[str, Versioned[CustomerHolds]] = {}
        self.customers: dict[str, Versioned[CustomerStanding]] = {}
        self.tier_list: list[Tier] = []
        #: Per store id: its facts, or just whether it is open (``store_facts`` fills the rest).
        self.stores: dict[str, bool | StoreFacts] = {}
        self.codes: dict[str, Versioned[DiscountCode]] = {}
        self.code_customers: dict[tuple[str, str], Versioned[int]] = {}
        self.code_uses: dict[tuple[str, str], CodeUse] = {}
        #: The outbox: ``events/{id}`` by id (``AddEvent``).
        self.events: dict[str, Event] = {}
        #: The cart a checkout empties (``ClearCartLines``), when a test wires one.
        self.cart: InMemoryCart | None = None
        self.commits = 0
        self.lost_races = 0
        self._failures = 0
        self._lock = threading.RLock()

    # --- test helpers ------------------------------------------------------------------------

    def fail_commits(self, count: int) -> None:
        """The next ``count`` commits raise ``Contention`` (the database aborted them)."""
        self._failures += count

    def stock(self, store_id: str, product_id: str, on_hand: int, threshold: int = 0) -> None:
        """Put ``on_hand`` units at a store, through the ledger like an admin count."""
        now = datetime.now(UTC)
        current = self.levels.get((store_id, product_id))
        record = (
            current.value
            if current
            else StockRecord.empty(store_id=store_id, product_id=product_id, at=now)
        )
        level, movement = inventory.set_on_hand(
            level=record.level(), on_hand=on_hand, low_stock_threshold=threshold, reason="count"
        )
        after = record.with_level(level, at=now)
        writes: list[Write] = put_level(current, after)
        if movement.delta_on_hand:
            writes.append(
                AddMovement(
                    MovementRecord.of(
                        movement,
                        movement_id=f"m{_next_version()}",
                        after=after,
                        actor="test",
                        at=now,
                    )
                )
            )
        self.commit(writes)

    def level(self, store_id: str, product_id: str) -> StockRecord:
        """The stored level (test assertions)."""
        return self.levels[(store_id, product_id)].value

    def ledger(self, store_id: str, product_id: str) -> list[MovementRecord]:
        """The level's ledger rows in the order written."""
        return [m for (s, p, _), m in self.movements.items() if (s, p) == (store_id, product_id)]

    def add_customer(self, uid: str, *, tier: str | None = "BRONZE", locked: bool = False) -> None:
        """A profile with empty stats."""
        standing = CustomerStanding(uid=uid, tier=tier, tier_locked=locked)
        self.customers[uid] = Versioned(standing, _next_version())

    # --- StoreDirectory ----------------------------------------------------------------------

    def store_facts(self, store_id: str) -> StoreFacts | None:
        found = self.stores.get(store_id)
        if isinstance(found, bool):  # a bare flag: an open or closed store in PT, no pickup
            return StoreFacts(active=found, pickup=False, country="PT")
        return found

    # --- OrderStore --------------------------------------------------------------------------

    def get(self, order_id: str) -> Versioned[Order]:
        row = self.orders.get(order_id)
        if row is None:
            raise NotFound(f"no order {order_id}")
        return row

    def page(
        self,
        *,
        user_id: str | None,
        status: OrderStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Order]:
        rows = [
            row.value
            for row in self.orders.values()
            if (user_id is None or row.value.user_id == user_id)
            and (status is None or row.value.status == status)
        ]
        rows.sort(key=_order_key, reverse=True)
        if cursor:
            after = tuple(decode_cursor(cursor, arity=2))
            rows = [o for o in rows if _order_key(o) < after]
        items = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor(list(_order_key(items[-1])))
        return Page(items, next_cursor)

    def due_for_expiry(self, *, now: datetime, limit: int) -> list[Order]:
        due = [
            row.value
            for row in self.orders.values()
            if row.value.status == OrderStatus.CONFIRMED
            and row.value.hold_expires_at is not None
            and row.value.hold_expires_at < now
        ]
        return sorted(due, key=lambda o: o.hold_expires_at or now)[:limit]

    def pending_since(self, *, before: datetime, limit: int) -> list[Order]:
        stale = [
            row.value
            for row in self.orders.values()
            if row.value.status == OrderStatus.PENDING and row.value.created_at < before
        ]
        return sorted(stale, key=lambda o: o.created_at)[:limit]

    def awaiting_stock(self, *, limit: int) -> list[Order]:
        return [row.value for row in self.orders.values() if row.value.stock_target()][:limit]

    def holding_stock(self) -> list[Order]:
        return [row.value for row in self.orders.values() if row.value.status in HOLDS_STOCK]

    def payments_due(self, *, limit: int) -> list[Order]:
        return [row.value for row in self.orders.values() if row.value.payment_due][:limit]

    def idempotency(self, record_id: str) -> Versioned[IdempotencyRecord] | None:
        return self.keys.get(record_id)

    def holds(self, uid: str) -> Versioned[CustomerHolds] | None:
        return self.holds_of.get(uid)

    def stats_markers(self, order_id: str) -> dict[str, int | None]:
        return {
            marker: self.marker_amounts.get((oid, marker))
            for oid, marker in self.markers
            if oid == order_id
        }

    # --- CustomerStandings and TierLadder -----------------------------------------------------

    def standing(self, uid: str) -> Versioned[CustomerStanding] | None:
        return self.customers.get(uid)

    def all_tiers(self) -> list[Tier]:
        return sorted(self.tier_list, key=lambda t: t.level)

    # --- InventoryStore ----------------------------------------------------------------------

    def levels_at(self, store_id: str) -> dict[str, StockRecord]:
        """Every level of a store by product (test assertions)."""
        return {p: row.value for (s, p), row in self.levels.items() if s == store_id}

    def every_level(self) -> list[StockRecord]:
        """Every stored level."""
        return [row.value for row in self.levels.values()]

    def every_movement(self) -> list[MovementRecord]:
        """Every ledger row."""
        return list(self.movements.values())

    # ``InventoryStore``'s ``get``/``page``/``levels``/``movements`` would clash with the order
    # methods and the dicts above: services get ``InventoryView(commerce)`` for that port.

    # --- AtomicWriter ------------------------------------------------------------------------

    def commit(self, writes: Sequence[Write]) -> str:
        self._run_interleaved()
        with self._lock:
            if self._failures:
                self._failures -= 1
                self.lost_races += 1
                raise Contention("the database aborted the commit")
            try:
                for write in writes:
                    self._check(write)
            except PreconditionFailed:
                self.lost_races += 1
                raise
            self._check_outbox(writes)
            version = _next_version()  # like Firestore's commit time: one per commit
            for write in writes:
                self._apply(write, version)
            self.commits += 1
            return version

    def _check_outbox(self, writes: Sequence[Write]) -> None:
        """No change without its event, no event without its change. An order written with
        ``k`` more history entries than the stored one comes with exactly the ``k`` events of
        them (id, type, sequence, time; the last one's ``data`` is the order written), and with
        the ``payment.refunded`` of each refund it records as made; a level comes noting its
        state (``put_level``) with the event of its flip, if it flips; no event comes without
        its change. A service breaking it is a bug (``AssertionError``), not a race: the
        writes' versions were checked first."""
        expected: dict[str, Event | None] = {}  # event id -> the exact event, or None: id only
        for write in writes:
            if isinstance(write, PutLevel):
                record = write.level
                stored_level = self.levels.get((record.store_id, record.variant_id))
                noted, flip = announce(stored_level.value if stored_level else None, record)
                if noted != record:
                    raise AssertionError(
                        f"level {record.key} written without noting its state (put_level): "
                        f"{record.announced}/{record.event_count} != "
                        f"{noted.announced}/{noted.event_count}"
                    )
                if flip is not None:
                    expected[flip.id] = flip
                continue
            if not isinstance(write, CreateOrder | UpdateOrder):
                continue
            order = write.order
            stored = self.orders.get(order.id) if isinstance(write, UpdateOrder) else None
            before = stored.value.history if stored is not None else []
            after = order.history
            if after[: len(before)] != before:
                raise AssertionError(f"order {order.id}: its history was rewritten, not grown")
            for sequence in range(len(before) + 1, len(after) + 1):
                expected[event_id(ORDER, order.id, sequence)] = None
            if len(after) > len(before):
                expected[event_id(ORDER, order.id, len(after))] = order_event(order)
            paid = stored.value.payment if stored is not None else None
            for refunded in refund_events(order.id, before=paid, after=order.payment):
                expected[refunded.id] = refunded
        given: dict[str, Event] = {}
        for write in writes:
            if isinstance(write, AddEvent):
                if write.event.id in given:
                    raise AssertionError(f"event {write.event.id} added twice in one commit")
                given[write.event.id] = write.event
        if set(given) != set(expected):
            raise AssertionError(
                f"outbox broken: the commit's changes need events {sorted(expected)}, "
                f"it adds {sorted(given)}"
            )
        for eid, event in given.items():
            exact = expected[eid]
            if exact is not None and event != exact:
                raise AssertionError(f"event {eid} is not its change's: {event!r} != {exact!r}")
            if event.aggregate.kind != ORDER:
                continue
            history = next(
                w.order.history
                for w in writes
                if isinstance(w, CreateOrder | UpdateOrder) and w.order.id == event.aggregate.id
            )
            step = history[event.sequence - 1]
            if event.type != EVENT_TYPES[step.status] or event.occurred_at != step.at:
                raise AssertionError(f"event {eid} does not tell step {event.sequence}")

    def _check(self, write: Write) -> None:
        def expect(row: Versioned[Any] | None, version: str | None) -> None:
            if version is None:
                if row is not None:
                    raise PreconditionFailed("the document already exists")
            elif row is None or row.version != version:
                raise PreconditionFailed("the document changed since it was read")

        match write:
            case CreateOrder(order=order):
                expect(self.orders.get(order.id), None)
            case UpdateOrder(order=order, expected_version=version):
                expect(self.orders.get(order.id), version)
            case PutLevel(level=record, expected_version=version):
                expect(self.levels.get((record.store_id, record.variant_id)), version)
            case AddMovement(movement=row):
                if (row.store_id, row.variant_id, row.id) in self.movements:
                    raise PreconditionFailed("the movement already exists")
            case AddEffectMarker(order_id=order_id, effect=effect):
                if (order_id, effect) in self.markers:
                    raise PreconditionFailed("the marker already exists")
            case UpdateCustomer(uid=uid, expected_version=version):
                expect(self.customers.get(uid), version)
            case PutIdempotencyKey(record=record, expected_version=version):
                expect(self.keys.get(record.id), version)
            case RecordCodeUse(use=use, expected_version=version, customer_version=mine):
                expect(self.codes.get(use.code), version)
                expect(self.code_customers.get((use.code, use.user_id)), mine)
                if (use.code, use.id) in self.code_uses:
                    raise PreconditionFailed("the code use is already recorded")
            case ClearCartLines(uid=uid, lines=lines):
                rows = self.cart.rows if self.cart is not None else {}
                for variant_id, version in lines:
                    expect(rows.get((uid, variant_id)), version)
            case PutHolds(holds=holds, expected_version=version):
                expect(self.holds_of.get(holds.uid), version)
            case AddEvent(event=event):
                if event.id in self.events:
                    raise PreconditionFailed("the event already exists")

    def _apply(self, write: Write, version: str) -> None:
        match write:
            case CreateOrder(order=order) | UpdateOrder(order=order):
                self.orders[order.id] = Versioned(order, version)
            case PutLevel(level=record):
                self.levels[(record.store_id, record.variant_id)] = Versioned(record, version)
            case AddMovement(movement=row):
                self.movements[(row.store_id, row.variant_id, row.id)] = row
            case AddEffectMarker(order_id=order_id, effect=effect, amount=amount):
                self.markers.add((order_id, effect))
                self.marker_amounts[(order_id, effect)] = amount
            case UpdateCustomer(uid=uid, stats=stats, tier=tier):
                current = self.customers[uid].value
                changes: dict[str, Any] = {"stats": stats}
                if tier is not None:
                    changes["tier"] = tier
                self.customers[uid] = Versioned(current.model_copy(update=changes), version)
            case PutIdempotencyKey(record=record):
                self.keys[record.id] = Versioned(record, version)
            case RecordCodeUse(use=use, times_used=times_used, customer_uses=mine):
                code = self.codes[use.code].value.model_copy(update={"times_used": times_used})
                self.codes[use.code] = Versioned(code, version)
                self.code_customers[(use.code, use.user_id)] = Versioned(mine, version)
                self.code_uses[(use.code, use.id)] = use
            case ClearCartLines(uid=uid, lines=lines):
                assert self.cart is not None
                for variant_id, _ in lines:
                    del self.cart.rows[(uid, variant_id)]
            case PutHolds(holds=holds):
                self.holds_of[holds.uid] = Versioned(holds, version)
            case AddEvent(event=event):
                self.events[event.id] = event

    def events_of(self, aggregate_id: str, kind: str = ORDER) -> list[Event]:
        """The events of aggregate ``kind`` ``aggregate_id`` (an order's by default), by
        sequence."""
        found = [
            e
            for e in self.events.values()
            if e.aggregate.id == aggregate_id and e.aggregate.kind == kind
        ]
        return sorted(found, key=lambda e: e.sequence)


class EventsView:
    """``EventLog`` over an ``InMemoryCommerce``'s outbox: newest first, (time, id) cursors."""

    def __init__(self, commerce: InMemoryCommerce) -> None:
        self._commerce = commerce

    def page(
        self,
        *,
        event_type: str | None,
        aggregate_id: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Event]:
        found = [
            e
            for e in self._commerce.events.values()
            if (event_type is None or e.type == event_type)
            and (aggregate_id is None or e.aggregate.id == aggregate_id)
        ]
        found.sort(key=lambda e: (e.occurred_at, e.id), reverse=True)
        if cursor is not None:
            at, last_id = decode_cursor(cursor, arity=2)
            if not isinstance(at, datetime) or not isinstance(last_id, str):
                raise refused()
            found = [e for e in found if (e.occurred_at, e.id) < (at, last_id)]
        items = found[:limit]
        more = len(found) > limit
        return Page(items, encode_cursor([items[-1].occurred_at, items[-1].id]) if more else None)


class CodesView:
    """``DiscountCodeRepository`` over an ``InMemoryCommerce`` (whose writer counts uses)."""

    def __init__(self, commerce: InMemoryCommerce) -> None:
        self._c = commerce

    def add(self, code: DiscountCode) -> None:
        """Store ``code`` (test setup)."""
        self._c.codes[code.code] = Versioned(code, _next_version())

    def find(self, code: str) -> Versioned[DiscountCode] | None:
        return self._c.codes.get(code)

    def get(self, code: str) -> Versioned[DiscountCode]:
        found = self._c.codes.get(code)
        if found is None:
            raise NotFound(f"no discount code {code}")
        return found

    def page(self, *, limit: int, cursor: str | None) -> Page[DiscountCode]:
        rows = sorted((row.value for row in self._c.codes.values()), key=lambda c: c.code)
        rows = [c for c in rows if cursor is None or c.code > cursor]
        items = rows[:limit]
        return Page(items, items[-1].code if len(rows) > limit else None)

    def create(self, code: DiscountCode) -> Versioned[DiscountCode]:
        with self._c._lock:
            if code.code in self._c.codes:
                raise Conflict(f"discount code {code.code} already exists")
            self.add(code)
        return self._c.codes[code.code]

    def replace(self, code: DiscountCode, *, expected_version: str) -> Versioned[DiscountCode]:
        with self._c._lock:
            current = self.get(code.code)
            if current.version != expected_version:
                raise PreconditionFailed("the code changed since it was read")
            kept = code.model_copy(update={"times_used": current.value.times_used})
            self.add(kept)
        return self._c.codes[code.code]

    def delete(self, code: str, *, expected_version: str) -> None:
        with self._c._lock:
            if self.get(code).version != expected_version:
                raise PreconditionFailed("the code changed since it was read")
            del self._c.codes[code]

    def customer_uses(self, code: str, uid: str) -> Versioned[int] | None:
        return self._c.code_customers.get((code, uid))


class InMemoryProducts(_Interleaving):
    """``ProductRepository``'s writes (and the reads a write needs) in a dict, with the outbox
    check of ``InMemoryCommerce.commit``: each write must bring exactly its event
    (``catalog.events.product_event`` of the stored product and the one written, whose
    ``revision`` is one more), created in ``outbox`` (an ``InMemoryCommerce.events`` to share
    it) all or nothing; an existing event id fails the write as Firestore's create does."""

    def __init__(self, outbox: dict[str, Event] | None = None) -> None:
        self.rows: dict[str, Versioned[Product]] = {}
        self.outbox: dict[str, Event] = outbox if outbox is not None else {}
        self.writes = 0
        self._lock = threading.Lock()

    def _check_event(self, before: Product | None, product: Product, event: Event) -> None:
        revision = (before.revision if before else 0) + 1
        if product.revision != revision:
            raise AssertionError(
                f"product {product.id} written at revision {product.revision}, not {revision}"
            )
        exact = product_event(before, product)
        if event != exact:
            raise AssertionError(f"outbox broken: {event!r} is not the write's {exact!r}")
        if event.id in self.outbox:
            raise PreconditionFailed("the event already exists")

    def get(self, product_id: str) -> Versioned[Product]:
        row = self.rows.get(product_id)
        if row is None:
            raise NotFound(f"no product {product_id}")
        return row

    def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
        return {pid: self.rows[pid].value for pid in product_ids if pid in self.rows}

    def by_variant(self, variant_id: str) -> Product | None:
        found = (r.value for r in self.rows.values() if variant_id in r.value.variant_ids)
        return next(found, None)

    def create(self, product: Product, *, event: Event) -> Versioned[Product]:
        self._run_interleaved()
        with self._lock:
            if product.id in self.rows:
                raise Conflict(f"product {product.id} exists")
            self._check_event(None, product, event)
            self.rows[product.id] = Versioned(product, _next_version())
            self.outbox[event.id] = event
            self.writes += 1
            return self.rows[product.id]

    def replace(
        self,
        product: Product,
        *,
        previous_skus: Any = (),
        expected_version: str | None,
        category_changed: bool = False,
        event: Event,
    ) -> Versioned[Product]:
        self._run_interleaved()
        with self._lock:
            row = self.rows.get(product.id)
            if row is None or (expected_version is not None and row.version != expected_version):
                raise PreconditionFailed("the product changed since it was read")
            self._check_event(row.value, product, event)
            self.rows[product.id] = Versioned(product, _next_version())
            self.outbox[event.id] = event
            self.writes += 1
            return self.rows[product.id]


class InMemoryPriceLists(_Interleaving):
    """``PriceListRepository`` in a dict, with the outbox check: each create, replace and delete
    must bring exactly its ``price_list.changed`` (``pricing.events.price_list_event``, the
    revision one more than the stored one), created in ``outbox`` all or nothing."""

    def __init__(self, outbox: dict[str, Event] | None = None) -> None:
        self.rows: dict[str, Versioned[PriceList]] = {}
        self.outbox: dict[str, Event] = outbox if outbox is not None else {}

    def _check_event(
        self, before: PriceList | None, written: PriceList, event: Event, *, deleted: bool
    ) -> None:
        revision = (before.revision if before else 0) + 1
        if written.revision != revision:
            raise AssertionError(f"price list {written.id} at revision {written.revision}")
        exact = price_list_event(written, at=event.occurred_at, deleted=deleted)
        if event != exact:
            raise AssertionError(f"outbox broken: {event!r} is not the write's {exact!r}")
        if event.id in self.outbox:
            raise PreconditionFailed("the event already exists")

    def _current(self, price_list_id: str, expected_version: str | None) -> Versioned[PriceList]:
        row = self.rows.get(price_list_id)
        if row is None or (expected_version is not None and row.version != expected_version):
            raise PreconditionFailed("the price list changed since it was read")
        return row

    def get(self, price_list_id: str) -> Versioned[PriceList]:
        row = self.rows.get(price_list_id)
        if row is None:
            raise NotFound(f"no price list {price_list_id}")
        return row

    def all(self) -> list[PriceList]:
        return [row.value for row in self.rows.values()]

    def create(self, price_list: PriceList, *, event: Event) -> Versioned[PriceList]:
        self._run_interleaved()
        self._check_event(None, price_list, event, deleted=False)
        self.rows[price_list.id] = Versioned(price_list, _next_version())
        self.outbox[event.id] = event
        return self.rows[price_list.id]

    def replace(
        self, price_list: PriceList, *, expected_version: str | None, event: Event
    ) -> Versioned[PriceList]:
        self._run_interleaved()
        row = self._current(price_list.id, expected_version)
        self._check_event(row.value, price_list, event, deleted=False)
        self.rows[price_list.id] = Versioned(price_list, _next_version())
        self.outbox[event.id] = event
        return self.rows[price_list.id]

    def delete(self, price_list_id: str, *, expected_version: str | None, event: Event) -> None:
        self._run_interleaved()
        row = self._current(price_list_id, expected_version)
        gone = row.value.model_copy(update={"revision": row.value.revision + 1})
        self._check_event(row.value, gone, event, deleted=True)
        del self.rows[price_list_id]
        self.outbox[event.id] = event


class InMemoryShippingMethods:
    """``ShippingMethodRepository`` in a dict."""

    def __init__(self) -> None:
        self.rows: dict[str, Versioned[ShippingMethod]] = {}

    def get(self, code: str) -> Versioned[ShippingMethod]:
        if code not in self.rows:
            raise NotFound(f"no shipping method {code}")
        return self.rows[code]

    def all(self) -> list[ShippingMethod]:
        return sorted((row.value for row in self.rows.values()), key=lambda m: m.code)

    def on_offer(self) -> list[ShippingMethod]:
        return [method for method in self.all() if method.active]

    def create(self, method: ShippingMethod) -> Versioned[ShippingMethod]:
        if method.code in self.rows:
            raise Conflict(f"shipping method {method.code} already exists")
        self.rows[method.code] = Versioned(method, _next_version())
        return self.rows[method.code]

    def replace(
        self, method: ShippingMethod, *, expected_version: str
    ) -> Versioned[ShippingMethod]:
        if self.get(method.code).version != expected_version:
            raise PreconditionFailed("the method changed since it was read")
        self.rows[method.code] = Versioned(method, _next_version())
        return self.rows[method.code]

    def delete(self, code: str, *, expected_version: str) -> None:
        if self.get(code).version != expected_version:
            raise PreconditionFailed("the method changed since it was read")
        del self.rows[code]


class InMemoryTaxRates:
    """``TaxRateRepository`` in a dict."""

    def __init__(self) -> None:
        self.rows: dict[str, Versioned[TaxRate]] = {}

    def get(self, country: str) -> Versioned[TaxRate] | None:
        return self.rows.get(country)

    def rate(self, country: str) -> TaxRate | None:
        found = self.rows.get(country)
        return None if found is None else found.value

    def put(self, rate: TaxRate, *, expected_version: str | None) -> Versioned[TaxRate]:
        current = self.rows.get(rate.country)
        if expected_version is not None and (
            current is None or current.version != expected_version
        ):
            raise PreconditionFailed("the rate changed since it was read")
        self.rows[rate.country] = Versioned(rate, _next_version())
        return self.rows[rate.country]

    def delete(self, country: str, *, expected_version: str | None) -> None:
        current = self.rows.get(country)
        if current is None or (
            expected_version is not None and current.version != expected_version
        ):
            raise PreconditionFailed("the rate changed since it was read")
        del self.rows[country]


class InventoryView:
    """``InventoryStore`` over an ``InMemoryCommerce`` (whose own ``get``/``page`` are orders')."""

    def __init__(self, commerce: InMemoryCommerce) -> None:
        self._c = commerce

    def levels(self, *, store_id: str, keys: Sequence[str]) -> dict[str, Versioned[StockRecord]]:
        return {
            key: self._c.levels[(store_id, key)]
            for key in keys
            if (store_id, key) in self._c.levels
        }

    def get(self, *, store_id: str, variant_id: str) -> Versioned[StockRecord]:
        row = self._c.levels.get((store_id, variant_id))
        if row is None:
            raise NotFound(f"no stock of {variant_id} at store {store_id}")
        return row

    def page(
        self,
        *,
        store_id: str | None,
        product_id: str | None,
        low_stock: bool | None,
        limit: int,
        cursor: str | None,
    ) -> Page[StockRecord]:
        rows = sorted(
            (
                row.value
                for row in self._c.levels.values()
                if (store_id is None or row.value.store_id == store_id)
                and (product_id is None or row.value.product_id == product_id)
                and (low_stock is None or row.value.low_stock == low_stock)
            ),
            key=lambda r: (r.store_id, r.variant_id),
        )
        if cursor:
            after = tuple(decode_cursor(cursor, arity=2))
            rows = [r for r in rows if (r.store_id, r.variant_id) > after]
        items = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            key = [items[-1].store_id, items[-1].variant_id]
            next_cursor = encode_cursor(key)
        return Page(items, next_cursor)

    def movements(
        self, *, store_id: str, variant_id: str, limit: int, cursor: str | None
    ) -> Page[MovementRecord]:
        rows = list(reversed(self._c.ledger(store_id, variant_id)))
        start = int(cursor) if cursor else 0
        items = rows[start : start + limit]
        next_cursor = str(start + limit) if len(rows) > start + limit else None
        return Page(items, next_cursor)

    def every_level(self) -> list[StockRecord]:
        return self._c.every_level()

    def every_movement(self) -> list[MovementRecord]:
        return self._c.every_movement()


def _order_key(order: Order) -> tuple[str, str]:
    return (order.created_at.isoformat(), order.id)


class InMemoryCatalogue:
    """What ``PricingService`` reads, in dicts: products (``ProductRepository.get_many``), the
    pricing snapshot (no price lists: base prices) and each customer's tier."""

    def __init__(self, default_tier: str = "BRONZE") -> None:
        self.products: dict[str, Product] = {}
        self.tier_of_uid: dict[str, str] = {}
        self.price_lists: list[PriceList] = []
        self.default_tier = default_tier
        #: The ``strict`` flag of every snapshot and tier asked for (money must ask strictly).
        self.snapshots: list[bool] = []
        self.tier_reads: list[bool] = []

    def add(self, product_id: str, *, price: int, active: bool = True) -> Product:
        """A product in category ``cat`` priced ``price`` EUR cents."""
        product = Product(
            id=product_id,
            sku=f"SKU-{product_id}",
            name=product_id.title(),
            category_id="cat",
            base_price=price,
            currency="EUR",
            active=active,
            created_at=datetime.now(UTC),
            updated_at=datetime.now(UTC),
        )
        self.products[product_id] = product
        return product

    def add_sized(self, product_id: str, *, price: int, sizes: Mapping[str, int | None]) -> Product:
        """A product with one option ``Size`` and a variant ``{product_id}-{size}`` (SKU
        ``SKU-{product_id}-{size}``) per size, priced its own (or, ``None``, the product's)."""
        product = self.add(product_id, price=price).model_copy(
            update={
                "options": [Option(name="Size", values=list(sizes))],
                "variants": [
                    Variant(
                        id=f"{product_id}-{size}",
                        sku=f"SKU-{product_id}-{size}",
                        options={"Size": size},
                        base_price=own,
                    )
                    for size, own in sizes.items()
                ],
            }
        )
        self.products[product_id] = product
        return product

    def change_variant(self, product_id: str, variant_id: str, **changes: Any) -> None:
        """Change a stored variant's fields (``active=False``)."""
        product = self.products[product_id]
        variants = [
            v.model_copy(update=changes) if v.id == variant_id else v for v in product.variants
        ]
        self.products[product_id] = product.model_copy(update={"variants": variants})

    def delete_variant(self, product_id: str, variant_id: str) -> None:
        """Take a stored variant away."""
        product = self.products[product_id]
        variants = [v for v in product.variants if v.id != variant_id]
        self.products[product_id] = product.model_copy(update={"variants": variants})

    def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
        return {pid: self.products[pid] for pid in product_ids if pid in self.products}

    def by_variant(self, variant_id: str) -> Product | None:
        return next((p for p in self.products.values() if variant_id in p.variant_ids), None)

    def snapshot(self, *, strict: bool = False) -> PricingSnapshot:
        self.snapshots.append(strict)
        return PricingSnapshot(
            price_lists=list(self.price_lists),
            parents={"cat": None},
            default_tier=self.default_tier,
        )

    def tier_of(self, uid: str, *, strict: bool = False) -> str | None:
        self.tier_reads.append(strict)
        return self.tier_of_uid.get(uid)


# --- cart and wishlist ------------------------------------------------------------------------


class _InMemoryVariantDocuments(_Interleaving):
    """Per-customer documents keyed by variant id, as ``users/{uid}/{cart|wishlist}/{id}``.

    ``interleave(fn)`` runs ``fn`` just before the next ``create`` (a concurrent request that
    wins the race between the service's check and its write); ``writes`` counts the writes.
    """

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Versioned[Any]] = {}
        self.writes = 0
        self._lock = threading.Lock()

    def _of(self, uid: str) -> list[Any]:
        with self._lock:
            return [row.value for (owner, _), row in self.rows.items() if owner == uid]

    def count(self, uid: str) -> int:
        return len(self._of(uid))

    def _create(self, uid: str, variant_id: str, value: Any) -> str:
        self._run_interleaved()
        with self._lock:
            if (uid, variant_id) in self.rows:
                raise Conflict(f"variant {variant_id} is already there")
            return self._put(uid, variant_id, value)

    def _put(self, uid: str, variant_id: str, value: Any) -> str:
        self.writes += 1
        version = _next_version()
        self.rows[(uid, variant_id)] = Versioned(value, version)
        return version

    def remove(self, uid: str, variant_id: str, *, expected_version: str | None = None) -> None:
        with self._lock:
            row = self.rows.get((uid, variant_id))
            if expected_version is not None and (row is None or row.version != expected_version):
                raise PreconditionFailed("the document changed since it was written")
            if row is not None:
                self.writes += 1
                del self.rows[(uid, variant_id)]


class InMemoryCart(_InMemoryVariantDocuments):
    """``CartRepository`` in a dict."""

    def lines(self, uid: str, *, limit: int) -> list[CartLine]:
        rows: list[CartLine] = self._of(uid)
        return sorted(rows, key=lambda line: (line.added_at, line.variant_id))[:limit]

    def versioned_lines(self, uid: str, *, limit: int) -> list[Versioned[CartLine]]:
        with self._lock:
            rows = [row for (owner, _), row in self.rows.items() if owner == uid]
        rows.sort(key=lambda row: (row.value.added_at, row.value.variant_id))
        return rows[:limit]

    def create(self, uid: str, line: CartLine) -> str:
        return self._create(uid, line.variant_id, line)

    def set_quantity(
        self, uid: str, variant_id: str, *, quantity: int, updated_at: datetime
    ) -> CartLine | None:
        with self._lock:
            row = self.rows.get((uid, variant_id))
            if row is None:
                return None
            line = row.value.model_copy(update={"quantity": quantity, "updated_at": updated_at})
            self._put(uid, variant_id, line)
            return line

    def clear(self, uid: str) -> None:
        with self._lock:
            for key in [key for key in self.rows if key[0] == uid]:
                self.writes += 1
                del self.rows[key]


class InMemoryWishlist(_InMemoryVariantDocuments):
    """``WishlistRepository`` in a dict, newest first with an offset cursor."""

    def page(self, uid: str, *, limit: int, cursor: str | None) -> Page[WishlistEntry]:
        rows: list[WishlistEntry] = self._of(uid)
        rows.sort(key=lambda entry: (entry.added_at, entry.variant_id), reverse=True)
        try:
            start = int(cursor) if cursor else 0
        except ValueError:
            raise ValidationFailed.on("cursor", "not a cursor this list returned") from None
        items = rows[start : start + limit]
        next_cursor = str(start + limit) if len(rows) > start + limit else None
        return Page(items, next_cursor)

    def get(self, uid: str, variant_id: str) -> WishlistEntry | None:
        row = self.rows.get((uid, variant_id))
        return None if row is None else row.value

    def create(self, uid: str, entry: WishlistEntry) -> str:
        return self._create(uid, entry.variant_id, entry)

    def versioned_entries(self, uid: str, *, limit: int) -> list[Versioned[WishlistEntry]]:
        with self._lock:
            rows = [row for (owner, _), row in self.rows.items() if owner == uid]
        rows.sort(key=lambda row: (row.value.added_at, row.value.variant_id))
        return rows[:limit]

    def listed(self, uid: str, variant_ids: Sequence[str]) -> set[str]:
        with self._lock:
            return {v for v in variant_ids if (uid, v) in self.rows}


class InMemoryCartMerges(_Interleaving):
    """``CartMerges`` over an ``InMemoryCart`` and an ``InMemoryWishlist``: all of a merge or
    none of it, with the same preconditions as the Firestore batch; ``interleave(fn)`` runs
    ``fn`` just before the next commit (a concurrent writer); ``commits`` counts the applied."""

    def __init__(self, cart: InMemoryCart, wishlist: InMemoryWishlist) -> None:
        self.cart = cart
        self.wishlist = wishlist
        self.commits = 0

    def commit(self, merge: CartMerge) -> None:
        self._run_interleaved()
        cart, wishlist = self.cart, self.wishlist
        with cart._lock, wishlist._lock:

            def at(
                rows: dict[tuple[str, str], Versioned[Any]], key: tuple[str, str], v: str
            ) -> None:
                if key not in rows or rows[key].version != v:
                    raise PreconditionFailed("the document changed since it was read")

            for line in merge.add_lines:
                if (merge.uid, line.variant_id) in cart.rows:
                    raise PreconditionFailed("a concurrent write won: the document exists")
            for entry in merge.add_entries:
                if (merge.uid, entry.variant_id) in wishlist.rows:
                    raise PreconditionFailed("a concurrent write won: the document exists")
            for line, version in merge.raise_lines:
                at(cart.rows, (merge.uid, line.variant_id), version)
            for variant_id, version in merge.take_lines:
                at(cart.rows, (merge.guest_uid, variant_id), version)
            for variant_id, version in merge.take_entries:
                at(wishlist.rows, (merge.guest_uid, variant_id), version)
            for line in (*merge.add_lines, *(line for line, _ in merge.raise_lines)):
                cart._put(merge.uid, line.variant_id, line)
            for variant_id, _ in merge.take_lines:
                del cart.rows[(merge.guest_uid, variant_id)]
            for entry in merge.add_entries:
                wishlist._put(merge.uid, entry.variant_id, entry)
            for variant_id, _ in merge.take_entries:
                del wishlist.rows[(merge.guest_uid, variant_id)]
            self.commits += 1


class FakeStripe:
    """``PaymentProvider`` in memory, with Stripe's rules that matter here: one intent per
    order key, a succeeded intent cannot be cancelled, refunds never exceed the charge and the
    same key never refunds twice. ``pay(intent_id)`` is the customer paying with Stripe.js;
    ``events`` are the signed events it would send (``sign=False`` gives a forged one)."""

    SECRET = "whsec_unit"

    def __init__(self) -> None:
        self.intents: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, ProviderDispute] = {}
        self.calls: list[str] = []
        self.down = False
        #: Like the local Stripe: ``Idempotency-Key`` ignored, every create makes a new intent.
        self.ignore_keys = False
        self._ids = itertools.count(1)

    @property
    def publishable_key(self) -> str:
        return "pk_test_unit"

    def _intent(self, intent_id: str) -> Intent:
        obj = self.intents[intent_id]
        return Intent(
            id=intent_id,
            status=obj["status"],
            amount=obj["amount"],
            amount_received=obj["amount"] if obj["status"] == "succeeded" else 0,
            currency=obj["currency"].upper(),
            order_id=obj["order_id"],
            client_secret=f"{intent_id}_secret",
        )

    def _call(self, what: str) -> None:
        if self.down:
            raise ProviderUnavailable(f"stripe is down ({what})")
        self.calls.append(what)

    def create_intent(self, *, order_id: str, amount: int, currency: str) -> Intent:
        self._call("create_intent")
        if order_id not in self.by_key or self.ignore_keys:
            intent_id = f"pi_{next(self._ids)}"
            self.intents[intent_id] = {
                "status": "requires_payment_method",
                "amount": amount,
                "currency": currency.lower(),
                "order_id": order_id,
            }
            self.by_key[order_id] = intent_id
        return self._intent(self.by_key[order_id])

    def retrieve_intent(self, intent_id: str) -> Intent:
        self._call("retrieve_intent")
        return self._intent(intent_id)

    def cancel_intent(self, intent_id: str) -> Intent:
        self._call("cancel_intent")
        obj = self.intents[intent_id]
        if obj["status"] not in ("succeeded", "canceled"):
            obj["status"] = "canceled"
        return self._intent(intent_id)

    def refund(self, *, intent_id: str, amount: int, key: str) -> ProviderRefund:
        self._call("refund")
        if key in self.refunds:
            return ProviderRefund(id=self.refunds[key]["id"], amount=self.refunds[key]["amount"])
        obj = self.intents[intent_id]
        if obj["status"] != "succeeded":
            raise Conflict("cannot refund an unpaid intent")
        if self.refunded(intent_id) + amount > obj["amount"]:
            raise Conflict("refund exceeds the charge")  # Stripe: charge_already_refunded
        self.refunds[key] = {"id": f"re_{next(self._ids)}", "amount": amount, "intent": intent_id}
        return ProviderRefund(id=self.refunds[key]["id"], amount=amount, key=key)

    def refunds_of(self, intent_id: str) -> list[ProviderRefund]:
        return [
            ProviderRefund(id=r["id"], amount=r["amount"], key=None if k.startswith("dash-") else k)
            for k, r in self.refunds.items()
            if r["intent"] == intent_id
        ]

    def list_refunds(self, intent_id: str) -> list[ProviderRefund]:
        self._call("list_refunds")
        return self.refunds_of(intent_id)

    def dashboard_refund(self, intent_id: str, amount: int) -> str:
        """A refund made in the Stripe dashboard (no key of ours); its refund id."""
        refund_id = f"re_{next(self._ids)}"
        self.refunds[f"dash-{refund_id}"] = {"id": refund_id, "amount": amount, "intent": intent_id}
        return refund_id

    def dispute(
        self, intent_id: str, status: str = "needs_response", *, dispute_id: str = "dp_1"
    ) -> str:
        """The customer's bank disputes (or Stripe closes the dispute of) the intent's charge."""
        obj = self.intents[intent_id]
        self.disputes[dispute_id] = ProviderDispute(
            id=dispute_id,
            intent_id=intent_id,
            status=status,
            reason="fraudulent",
            amount=obj["amount"],
            currency=obj["currency"].upper(),
        )
        return dispute_id

    def retrieve_dispute(self, dispute_id: str) -> ProviderDispute:
        self._call("retrieve_dispute")
        if dispute_id not in self.disputes:
            raise NotFound(f"no dispute {dispute_id}")
        return self.disputes[dispute_id]

    def refunded(self, intent_id: str) -> int:
        """Total refunded on ``intent_id`` so far."""
        return sum(r["amount"] for r in self.refunds.values() if r["intent"] == intent_id)

    def pay(self, intent_id: str, *, amount: int | None = None) -> None:
        """The customer confirms the intent (``amount`` changes it first, as a tampered client
        updating the intent would)."""
        obj = self.intents[intent_id]
        if amount is not None:
            obj["amount"] = amount
        assert obj["status"] == "requires_payment_method", obj
        obj["status"] = "succeeded"

    def event(
        self, intent_id: str, kind: str = "succeeded", *, event_id: str | None = None
    ) -> bytes:
        """A webhook payload about ``intent_id`` (its body is what Stripe would send):
        ``succeeded``/``payment_failed`` of the intent, ``charge.refunded`` of its charge, or
        ``charge.dispute.*:{dispute_id}`` of a dispute."""
        obj: dict[str, Any] = {"object": "payment_intent", "id": intent_id}
        kind_of = f"payment_intent.{kind}"
        if kind == "charge.refunded":
            obj = {"object": "charge", "id": f"ch_{intent_id}", "payment_intent": intent_id}
            kind_of = kind
        elif kind.startswith("charge.dispute."):
            kind_of, _, dispute_id = kind.partition(":")
            obj = {"object": "dispute", "id": dispute_id, "payment_intent": intent_id}
        body = {
            "id": event_id or f"evt_{next(self._ids)}",
            "type": kind_of,
            "data": {"object": obj},
        }
        return json.dumps(body).encode()

    def parse_event(self, *, payload: bytes, signature: str | None) -> PaymentEvent:
        if signature != self.SECRET:
            raise InvalidSignature("the Stripe-Signature header does not verify")
        body = json.loads(payload)
        obj = body["data"]["object"]
        intent = (
            obj.get("id") if obj.get("object") == "payment_intent" else obj.get("payment_intent")
        )
        dispute = obj.get("id") if obj.get("object") == "dispute" else None
        return PaymentEvent(id=body["id"], type=body["type"], intent_id=intent, dispute_id=dispute)


class InMemoryPaymentRecords:
    """``PaymentRecords`` over dicts."""

    def __init__(self) -> None:
        self.secrets: dict[str, PaymentSecret] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.unmatched_payments: dict[str, UnmatchedPayment] = {}

    def unmatched(self, intent_id: str) -> UnmatchedPayment | None:
        return self.unmatched_payments.get(intent_id)

    def add_unmatched(self, record: UnmatchedPayment) -> bool:
        if record.intent_id in self.unmatched_payments:
            return False
        self.unmatched_payments[record.intent_id] = record
        return True

    def put_unmatched(self, record: UnmatchedPayment) -> None:
        self.unmatched_payments[record.intent_id] = record

    def list_unmatched(self, *, limit: int) -> list[UnmatchedPayment]:
        ordered = sorted(self.unmatched_payments.values(), key=lambda r: r.received_at)
        return list(reversed(ordered))[:limit]

    def put_secret(self, secret: PaymentSecret) -> None:
        self.secrets[secret.order_id] = secret

    def secret(self, order_id: str) -> PaymentSecret | None:
        return self.secrets.get(order_id)

    def event_seen(self, event_id: str) -> bool:
        return event_id in self.events

    def record_event(
        self, *, event: PaymentEvent, order_id: str | None, outcome: str, at: datetime
    ) -> None:
        self.events[event.id] = {"type": event.type, "order_id": order_id, "outcome": outcome}


@dataclass(frozen=True)
class EnqueuedTask:
    """One task an ``InMemoryTasks`` holds: its queue, payload, id and delay."""

    queue: str
    payload: dict[str, Any]
    task_id: str | None
    delay_seconds: int


class InMemoryTasks:
    """``TaskQueue`` in memory: tasks are kept in enqueue order until a test runs them, and a
    second enqueue of a known ``task_id`` is dropped, as Cloud Tasks drops it."""

    def __init__(self) -> None:
        self.tasks: list[EnqueuedTask] = []
        self._ids: set[tuple[str, str]] = set()

    def enqueue(
        self,
        queue: str,
        payload: Mapping[str, Any],
        *,
        task_id: str | None = None,
        delay_seconds: int = 0,
    ) -> None:
        if task_id is not None:
            if (queue, task_id) in self._ids:
                return
            self._ids.add((queue, task_id))
        self.tasks.append(EnqueuedTask(queue, dict(payload), task_id, delay_seconds))

    def take(self, queue: str) -> list[EnqueuedTask]:
        """The tasks of ``queue`` enqueued so far, removed from the queue (ids stay known)."""
        taken = [task for task in self.tasks if task.queue == queue]
        self.tasks = [task for task in self.tasks if task.queue != queue]
        return taken


class InMemoryWebhooks:
    """``WebhookRepository`` in memory: endpoints and deliveries with counter versions; a
    settlement's writes (delivery, endpoint, deactivation event) commit together or not at all,
    the event into ``events`` (an ``InMemoryEvents``)."""

    def __init__(self, events: InMemoryEvents) -> None:
        self._events = events
        self.stored: dict[str, tuple[StoredWebhook, int]] = {}
        self.deliveries_of: dict[str, dict[str, tuple[Delivery, int]]] = {}
        self._counter = itertools.count(1)
        #: Called once with (webhook_id, event_id) before the next ``claim`` reads (a race).
        self.before_claim: Callable[[str, str], None] | None = None

    def _next(self) -> int:
        return next(self._counter)

    def create(self, stored: StoredWebhook) -> Versioned[Webhook]:
        if stored.webhook.id in self.stored:
            raise Conflict("exists")
        version = self._next()
        self.stored[stored.webhook.id] = (stored, version)
        self.deliveries_of.setdefault(stored.webhook.id, {})
        return Versioned(stored.webhook, str(version))

    def get(self, webhook_id: str) -> Versioned[StoredWebhook]:
        if webhook_id not in self.stored:
            raise NotFound(f"no webhook {webhook_id}")
        stored, version = self.stored[webhook_id]
        return Versioned(stored, str(version))

    def list(self, *, limit: int, cursor: str | None) -> Page[Webhook]:
        items = sorted((s.webhook for s, _ in self.stored.values()), key=lambda w: w.created_at)
        return Page(items[:limit], None)

    def endpoints(self) -> Sequence[Versioned[StoredWebhook]]:
        return [Versioned(s, str(v)) for s, v in self.stored.values()]

    def _check(self, webhook_id: str, expected_version: str) -> None:
        if webhook_id not in self.stored:
            raise PreconditionFailed("gone")
        if str(self.stored[webhook_id][1]) != expected_version:
            raise PreconditionFailed("moved")

    def replace(self, stored: StoredWebhook, *, expected_version: str) -> Versioned[Webhook]:
        self._check(stored.webhook.id, expected_version)
        version = self._next()
        self.stored[stored.webhook.id] = (stored, version)
        return Versioned(stored.webhook, str(version))

    def delete(self, webhook_id: str, *, expected_version: str) -> None:
        self._check(webhook_id, expected_version)
        del self.stored[webhook_id]
        self.deliveries_of.pop(webhook_id, None)

    def create_delivery(self, webhook_id: str, delivery: Delivery) -> bool:
        mine = self.deliveries_of.setdefault(webhook_id, {})
        if delivery.event_id in mine:
            return False
        mine[delivery.event_id] = (delivery, self._next())
        return True

    def delivery(self, webhook_id: str, event_id: str) -> Versioned[Delivery] | None:
        found = self.deliveries_of.get(webhook_id, {}).get(event_id)
        return None if found is None else Versioned(found[0], str(found[1]))

    def claim(
        self, webhook_id: str, event_id: str, decide: Callable[[Delivery], Delivery | None]
    ) -> Delivery | None:
        if self.before_claim is not None:  # a racing claim commits first
            hook, self.before_claim = self.before_claim, None
            hook(webhook_id, event_id)
        found = self.deliveries_of.get(webhook_id, {}).get(event_id)
        if found is None:
            return None
        leased = decide(found[0])
        if leased is not None:
            self.deliveries_of[webhook_id][event_id] = (leased, self._next())
        return leased

    def record(
        self,
        webhook_id: str,
        event_id: str,
        decide: Callable[[Delivery, Webhook | None], Recorded | None],
    ) -> Recorded | None:
        found = self.deliveries_of.get(webhook_id, {}).get(event_id)
        if found is None:
            return None
        stored = self.stored.get(webhook_id)
        decided = decide(found[0], stored[0].webhook if stored else None)
        if decided is None:
            return None
        if decided.event is not None and decided.event.id in self._events.events:
            raise PreconditionFailed("the event exists")  # nothing is written
        self.deliveries_of[webhook_id][event_id] = (decided.delivery, self._next())
        if decided.endpoint is not None and stored is not None:
            kept = StoredWebhook(webhook=decided.endpoint, secret=stored[0].secret)
            self.stored[webhook_id] = (kept, self._next())
        if decided.event is not None:
            self._events.events[decided.event.id] = decided.event
        return decided

    def deliveries(
        self, webhook_id: str, *, status: DeliveryStatus | None, limit: int, cursor: str | None
    ) -> Page[Delivery]:
        items = [
            d
            for d, _ in self.deliveries_of.get(webhook_id, {}).values()
            if status is None or d.status is status
        ]
        items.sort(key=lambda d: (d.created_at, d.event_id), reverse=True)
        return Page(items[:limit], None)

    def next_pending(
        self, webhook_id: str, *, aggregate_id: str, after_sequence: int
    ) -> Delivery | None:
        found = [
            d
            for d, _ in self.deliveries_of.get(webhook_id, {}).values()
            if d.aggregate.id == aggregate_id
            and d.status is DeliveryStatus.PENDING
            and d.sequence > after_sequence
        ]
        return min(found, key=lambda d: d.sequence, default=None)

    def pending(self, webhook_id: str, *, limit: int) -> Sequence[Delivery]:
        return [
            d
            for d, _ in self.deliveries_of.get(webhook_id, {}).values()
            if d.status is DeliveryStatus.PENDING
        ][:limit]


class InMemoryEvents:
    """``EventReader`` over a dict of events (the outbox as the webhook service reads it)."""

    def __init__(self) -> None:
        self.events: dict[str, Event] = {}

    def add(self, event: Event) -> Event:
        self.events[event.id] = event
        return event

    def event(self, event_id: str) -> Event | None:
        return self.events.get(event_id)

    def after(self, bounds: PageBounds) -> Sequence[Event]:
        """``OutboxPages``: oldest first after the cursor, up to ``bounds.through``."""
        found = [
            event
            for event in self.events.values()
            if bounds.cursor.precedes(event) and event.occurred_at <= bounds.through
        ]
        found.sort(key=lambda event: (event.occurred_at, event.id))
        return found[: bounds.limit]


class InMemorySweepCursors:
    """``SweepCursors`` in a dict, versioned by a counter; ``before_advance`` runs once before
    the next advance checks its version (a racing run)."""

    def __init__(self) -> None:
        self.stored: dict[str, tuple[SweepCursor, int]] = {}
        self._counter = itertools.count(1)
        self.before_advance: Callable[[], None] | None = None

    def read(self, name: str) -> Versioned[SweepCursor] | None:
        found = self.stored.get(name)
        return None if found is None else Versioned(found[0], str(found[1]))

    def advance(self, name: str, cursor: SweepCursor, *, expected_version: str | None) -> bool:
        if self.before_advance is not None:
            hook, self.before_advance = self.before_advance, None
            hook()
        found = self.stored.get(name)
        current = None if found is None else str(found[1])
        if current != expected_version:
            return False
        self.stored[name] = (cursor, next(self._counter))
        return True


@dataclass
class FakeReceiver:
    """``WebhookSender`` that records each send and answers from ``answers`` (a status code,
    or ``None`` for no answer), then ``default``; ``refused`` maps URLs to refusals."""

    answers: list[int | None] = field(default_factory=list)
    default: int | None = 200
    refused: dict[str, str] = field(default_factory=dict)
    sent: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    #: Called with each send's event id before it is answered (e.g. a racing task).
    during_send: Callable[[str], None] | None = None

    def refusal(self, url: str) -> str | None:
        return self.refused.get(url)

    def send(self, url: str, *, headers: Mapping[str, str], body: bytes) -> Outcome:
        self.sent.append((url, dict(headers), body))
        if self.during_send is not None:
            hook, self.during_send = self.during_send, None
            hook(headers["Celeste-Event-Id"])
        status = self.answers.pop(0) if self.answers else self.default
        if status is None:
            return Outcome(None, "timed out")
        return Outcome(status, None if 200 <= status < 300 else f"HTTP {status}")

    def event_ids(self) -> list[str]:
        """The ``Celeste-Event-Id`` of every send, in order."""
        return [headers["Celeste-Event-Id"] for _, headers, _ in self.sent]


class InMemoryInbox:
    """``Inbox`` in a dict: entries by (uid, id); ``transition`` runs its step under a lock, as
    the Firestore transaction does."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], Notification] = {}
        self._lock = threading.Lock()

    def create(self, uid: str, notification: Notification) -> bool:
        with self._lock:
            if (uid, notification.id) in self.entries:
                return False
            self.entries[(uid, notification.id)] = notification.model_copy(deep=True)
            return True

    def get(self, uid: str, notification_id: str) -> Notification:
        found = self.entries.get((uid, notification_id))
        if found is None:
            raise NotFound(f"no notification {notification_id}")
        return found.model_copy(deep=True)

    def _of(self, uid: str, *, unread: bool) -> list[Notification]:
        mine = [n for (owner, _), n in self.entries.items() if owner == uid]
        mine = [n for n in mine if not unread or n.read_at is None]
        return sorted(mine, key=lambda n: (n.created_at, n.id), reverse=True)

    def page(self, uid: str, *, unread: bool, limit: int, cursor: str | None) -> Page[Notification]:
        from celeste.kernel.paging import page_of

        return page_of(self._of(uid, unread=unread), limit=limit, cursor=cursor)

    def unread_count(self, uid: str) -> int:
        return len(self._of(uid, unread=True))

    def mark_read(self, uid: str, notification_id: str, *, at: datetime) -> Notification:
        found = self.get(uid, notification_id)
        if found.read_at is None:
            found = found.model_copy(update={"read_at": at})
            self.entries[(uid, notification_id)] = found
        return found

    def mark_all_read(self, uid: str, *, at: datetime) -> int:
        unread = self._of(uid, unread=True)
        for entry in unread:
            self.entries[(uid, entry.id)] = entry.model_copy(update={"read_at": at})
        return len(unread)

    def transition(
        self,
        uid: str,
        notification_id: str,
        channel: Channel,
        step: Callable[[ChannelState | None], tuple[ChannelState | None, Any]],
    ) -> Any:
        with self._lock:
            entry = self.entries.get((uid, notification_id))
            state = entry.channels.get(channel) if entry else None
            record, result = step(state.model_copy() if state else None)
            if record is not None and entry is not None:
                entry.channels[channel] = record
            return result


class InMemoryDevices:
    """``Devices`` in a dict of token sets."""

    def __init__(self) -> None:
        self.tokens_of: dict[str, dict[str, str | None]] = {}

    def put(self, uid: str, token: str, *, platform: str | None, at: datetime) -> None:
        self.tokens_of.setdefault(uid, {})[token] = platform

    def delete(self, uid: str, token: str) -> None:
        self.tokens_of.get(uid, {}).pop(token, None)

    def tokens(self, uid: str) -> list[str]:
        return list(self.tokens_of.get(uid, {}))


class InMemoryEventSource:
    """``EventSource`` over a dict of events."""

    def __init__(self, *events: Event) -> None:
        self.events = {event.id: event for event in events}

    def get(self, event_id: str) -> Event:
        if event_id not in self.events:
            raise NotFound(f"no event {event_id}")
        return self.events[event_id]


@dataclass
class SentEmail:
    to: str
    message: Message
    message_id: str


class RecordingMailer:
    """``Mailer`` that keeps what it was given; ``fail_next`` makes the next send raise it."""

    def __init__(self) -> None:
        self.sent: list[SentEmail] = []
        self.fail_next: Exception | None = None

    def send(self, *, to: str, message: Message, message_id: str) -> None:
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure
        self.sent.append(SentEmail(to, message, message_id))


class RecordingPusher:
    """``Pusher`` that keeps what it was given; tokens starting ``unregistered-`` are dead."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, *, token: str, title: str, body: str, data: dict[str, str]) -> PushAnswer:
        self.sent.append({"token": token, "title": title, "body": body, "data": dict(data)})
        return "unregistered" if token.startswith("unregistered-") else "sent"
