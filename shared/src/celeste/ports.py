"""Ports: what the services need from storage, as protocols the adapters (or fakes) implement."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from celeste.accounts.profiles import Identity, Profile, Role
from celeste.accounts.tiers import Tier
from celeste.cart.lines import CartLine, CartMerge, WishlistEntry
from celeste.catalog.categories import Category
from celeste.catalog.products import Product
from celeste.catalog.stores import Store, StoreFacts
from celeste.inventory.records import MovementRecord, StockRecord
from celeste.kernel.paging import Page
from celeste.kernel.ratelimits import Decision, Limit
from celeste.kernel.versions import Versioned
from celeste.orders.holds import CustomerHolds
from celeste.orders.order import CustomerStanding, IdempotencyRecord, Order
from celeste.orders.status import OrderStatus
from celeste.pricing.discount_codes import DiscountCode
from celeste.pricing.price_lists import PriceList, PricingSnapshot
from celeste.pricing.shipping import ShippingMethod
from celeste.pricing.tax import TaxRate
from celeste.writes import Write


class CategoryRepository(Protocol):
    """Storage of categories; slug uniqueness is enforced atomically by the store."""

    def get(self, category_id: str) -> Versioned[Category]:
        """The category, or ``NotFound``."""
        ...

    def list(
        self,
        *,
        parent_id: str | None,
        root_only: bool,
        active_only: bool,
        limit: int,
        cursor: str | None,
    ) -> Page[Category]:
        """Categories by ``sort_order`` then id; ``parent_id``/``root_only`` filter by parent."""
        ...

    def create(self, category: Category) -> Versioned[Category]:
        """Store a new category; ``Conflict`` if its slug is taken. A parent is linked in the
        same commit (it must still exist, else ``PreconditionFailed``; its version moves)."""
        ...

    def replace(
        self,
        category: Category,
        *,
        previous_slug: str,
        expected_version: str | None,
        guard: Mapping[str, str] | None = None,
    ) -> Versioned[Category]:
        """Overwrite; ``Conflict`` on a taken slug, ``PreconditionFailed`` on a stale version.

        ``guard`` maps the ids of other categories the decision read (a move's new ancestors)
        to the versions read: the commit fails with ``PreconditionFailed`` if any of them
        changed or vanished, and moves each one's version (so concurrent moves serialise).
        """
        ...

    def delete(self, category_id: str, *, slug: str, expected_version: str | None) -> None:
        """Remove the category and free its slug; ``PreconditionFailed`` on a stale version."""
        ...

    def has_children(self, category_id: str) -> bool:
        """Whether any category names this one as parent."""
        ...

    def has_products(self, category_id: str) -> bool:
        """Whether any product is filed under this category."""
        ...


class ProductRepository(Protocol):
    """Storage of products; SKU uniqueness is enforced atomically by the store."""

    def get(self, product_id: str) -> Versioned[Product]:
        """The product, or ``NotFound``."""
        ...

    def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
        """The products that exist among ``product_ids`` (one batched read)."""
        ...

    def page(
        self,
        *,
        category_ids: Sequence[str] | None,
        active_only: bool,
        limit: int,
        cursor: str | None,
    ) -> Page[Product]:
        """Products by case-folded name then id; ``category_ids`` (≤ 30) filters by category."""
        ...

    def scan(
        self, *, category_ids: Sequence[str] | None, active_only: bool, limit: int
    ) -> list[Product]:
        """Up to ``limit`` matching products by name (for filters computed in memory)."""
        ...

    def create(self, product: Product) -> Versioned[Product]:
        """Store a new product; ``Conflict`` if its SKU is taken. Its category is linked in the
        same commit (it must still exist, else ``PreconditionFailed``; its version moves), so a
        racing category delete either sees the product or makes this create re-check."""
        ...

    def replace(
        self,
        product: Product,
        *,
        previous_skus: Collection[str],
        expected_version: str | None,
        category_changed: bool = False,
    ) -> Versioned[Product]:
        """Overwrite; the SKUs it no longer has (of ``previous_skus``) are freed and new ones
        claimed (``Conflict`` on a taken one), ``PreconditionFailed`` on a stale version. With
        ``category_changed`` the new category is linked as ``create`` links it."""
        ...

    def by_variant(self, variant_id: str) -> Product | None:
        """The product that sells variant ``variant_id`` (a product's own id names its only
        variant when it has no options), or ``None``."""
        ...


class VariantUses(Protocol):
    """What keeps a variant from being deleted."""

    def in_use(self, variant_id: str) -> str | None:
        """Why the variant may not go (e.g. ``"holds stock at store s1"``), or ``None``."""
        ...


class PriceListRepository(Protocol):
    """Storage of price lists (a bounded, small collection)."""

    def get(self, price_list_id: str) -> Versioned[PriceList]:
        """The list, or ``NotFound``."""
        ...

    def all(self) -> list[PriceList]:
        """Every price list (at most ``MAX_PRICE_LISTS``)."""
        ...

    def create(self, price_list: PriceList) -> Versioned[PriceList]:
        """Store a new list."""
        ...

    def replace(
        self, price_list: PriceList, *, expected_version: str | None
    ) -> Versioned[PriceList]:
        """Overwrite; ``PreconditionFailed`` on a stale version."""
        ...

    def delete(self, price_list_id: str, *, expected_version: str | None) -> None:
        """Remove; ``PreconditionFailed`` on a stale version."""
        ...


class PricingSource(Protocol):
    """What pricing needs besides the products: lists, the category tree, the default tier.

    Adapters serve it from the cache, so pricing a page costs a bounded number of reads.
    """

    def snapshot(self, *, strict: bool = False) -> PricingSnapshot:
        """The current pricing inputs. ``strict`` (prices for money: quotes, orders, carts):
        reflecting every edit acknowledged before the call; otherwise at most the adapter's
        freshness window behind."""
        ...


class CustomerTiers(Protocol):
    """The tier a signed-in customer holds."""

    def tier_of(self, uid: str, *, strict: bool = False) -> str | None:
        """The tier code on the customer's profile, ``None`` without a profile (``strict``: read
        now; otherwise it may be up to the adapter's freshness window old)."""
        ...


class CustomerStandings(Protocol):
    """What the delivery effect reads of a customer (``users/{uid}``, the accounts adapter)."""

    def standing(self, uid: str) -> Versioned[CustomerStanding] | None:
        """Stats, tier and lock of the customer's profile, ``None`` without a profile."""
        ...


class StockReader(Protocol):
    """Availability per product at a store (``on_hand - reserved``)."""

    def available(self, *, store_id: str, keys: Sequence[str]) -> dict[str, int]:
        """Available units of each stock key, a variant id (0 where the store has no record)."""
        ...


class ProfileRepository(Protocol):
    """Storage of profiles (``users/{uid}``)."""

    def get(self, uid: str) -> Versioned[Profile]:
        """The profile, or ``NotFound``."""
        ...

    def create(self, profile: Profile) -> Versioned[Profile]:
        """Store a new profile atomically; ``Conflict`` if the uid already has one."""
        ...

    def update(
        self, profile: Profile, *, fields: frozenset[str], expected_version: str
    ) -> Versioned[Profile]:
        """Write only ``fields`` of ``profile``; ``PreconditionFailed`` on a stale version."""
        ...

    def list(
        self, *, role: Role | None, tier: str | None, limit: int, cursor: str | None
    ) -> Page[Profile]:
        """Profiles by ``created_at`` then uid, optionally of one role and/or tier."""
        ...


class TierLadder(Protocol):
    """The tier set as accounts, orders and standings read it (``TierService``, cached)."""

    def all_tiers(self) -> list[Tier]:
        """Every tier, by level."""
        ...


class IdentityProvider(Protocol):
    """The sign-in accounts (Firebase Auth): credentials, the ``role`` claim, disabling."""

    def create_user(self, *, email: str, password: str, display_name: str) -> str:
        """Create an email/password account and return its uid; ``Conflict`` on a taken email."""
        ...

    def delete_user(self, uid: str) -> None:
        """Delete the account; an account already gone is not an error."""
        ...

    def find_by_email(self, email: str) -> Identity:
        """The account with this email, or ``NotFound``."""
        ...

    def set_role_claim(self, uid: str, *, role: Role) -> None:
        """Set the ``role`` custom claim, keeping the account's other claims."""
        ...

    def set_disabled(self, uid: str, *, disabled: bool) -> None:
        """Disable or enable the account; disabling also revokes its refresh tokens."""
        ...

    def set_display_name(self, uid: str, display_name: str) -> None:
        """Set the account's display name (the ``name`` of its next ID tokens)."""
        ...


class StoreReferences(Protocol):
    """What still refers to a store: its stock levels and its open orders."""

    def holds_stock(self, store_id: str) -> bool:
        """Whether any stock level (``stores/{id}/inventory``) exists at the store."""
        ...

    def has_open_orders(self, store_id: str) -> bool:
        """Whether an order at the store is still under way (``orders.OPEN``)."""
        ...


class StoreRepository(Protocol):
    """Storage of stores."""

    def get(self, store_id: str) -> Versioned[Store]:
        """The store, or ``NotFound``."""
        ...

    def list(self, *, active_only: bool, limit: int, cursor: str | None) -> Page[Store]:
        """Stores by ``name`` then id."""
        ...

    def every(self, *, active_only: bool, limit: int) -> Sequence[Store]:
        """Up to ``limit`` stores (the near search reads them all and measures in memory)."""
        ...

    def count(self) -> int:
        """How many stores exist, active or not."""
        ...

    def create(self, store: Store) -> Versioned[Store]:
        """Store a new store."""
        ...

    def replace(self, store: Store, *, expected_version: str | None) -> Versioned[Store]:
        """Overwrite; ``PreconditionFailed`` on a stale version or a vanished store."""
        ...

    def delete(self, store_id: str, *, expected_version: str | None) -> None:
        """Remove the store; ``PreconditionFailed`` on a stale version or a vanished store."""
        ...


@dataclass(frozen=True)
class TierSet:
    """Every tier (by level) and the opaque revision of the set as a whole (``None`` before the
    set was first written through the repository)."""

    tiers: list[Versioned[Tier]]
    revision: str | None


class TierRepository(Protocol):
    """Storage of the tier set; every write is one atomic batch guarded by the set's revision."""

    def get(self, code: str) -> Versioned[Tier]:
        """The tier, or ``NotFound``."""
        ...

    def tier_set(self) -> TierSet:
        """Every tier, by level, with the set's revision read before the tiers (for writes)."""
        ...

    def tiers(self) -> list[Tier]:
        """Every tier, by level, for reading (an adapter may serve it from its cache)."""
        ...

    def save(
        self,
        *,
        revision: str | None,
        create: Sequence[Tier] = (),
        update: Sequence[Versioned[Tier]] = (),
        delete: Sequence[Versioned[Tier]] = (),
    ) -> None:
        """Apply all changes at once, or none: ``PreconditionFailed`` when the set's revision or
        an updated or deleted tier's version moved, ``Conflict`` when a created code exists.
        ``update`` and ``delete`` carry the version each tier was read at."""
        ...

    def is_held(self, code: str) -> bool:
        """Whether any user holds the tier."""
        ...


class OrderStore(Protocol):
    """Reads of orders, their effect markers and idempotency keys; writes go through
    ``AtomicWriter`` so an order always changes in the same commit as its stock and ledger."""

    def get(self, order_id: str) -> Versioned[Order]:
        """The order, or ``NotFound``."""
        ...

    def page(
        self,
        *,
        user_id: str | None,
        status: OrderStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Order]:
        """Orders newest first, optionally of one customer and/or one status."""
        ...

    def due_for_expiry(self, *, now: datetime, limit: int) -> list[Order]:
        """``confirmed`` orders whose hold ended before ``now``, the oldest hold first."""
        ...

    def pending_since(self, *, before: datetime, limit: int) -> list[Order]:
        """``pending`` orders placed before ``before`` (their reservation is overdue)."""
        ...

    def awaiting_stock(self, *, limit: int) -> list[Order]:
        """Orders still holding stock although their status released or shipped it."""
        ...

    def holding_stock(self) -> Iterable[Order]:
        """Every order whose status holds stock (``HOLDS_STOCK``), for the auditor."""
        ...

    def holds(self, uid: str) -> Versioned[CustomerHolds] | None:
        """The customer's open holds document (``PutHolds`` writes it), if any."""
        ...

    def idempotency(self, record_id: str) -> Versioned[IdempotencyRecord] | None:
        """The key record, ``None`` if the key was never used (or has been deleted)."""
        ...

    def stats_markers(self, order_id: str) -> dict[str, int | None]:
        """The order's stats markers ``orders/{id}/effects/{marker}`` that exist: marker id →
        the amount it moved (``None`` for a marker stored before markers recorded amounts)."""
        ...

    def payments_due(self, *, limit: int) -> list[Order]:
        """Orders whose ``payment_due`` says payment work is unfinished (any order)."""
        ...


class InventoryStore(Protocol):
    """Reads of stock levels and their movement ledgers."""

    def levels(self, *, store_id: str, keys: Sequence[str]) -> dict[str, Versioned[StockRecord]]:
        """The stored levels among ``keys`` (variant ids) at the store, by key (absent ones are
        left out)."""
        ...

    def get(self, *, store_id: str, variant_id: str) -> Versioned[StockRecord]:
        """One level, or ``NotFound``."""
        ...

    def page(
        self,
        *,
        store_id: str | None,
        product_id: str | None,
        low_stock: bool | None,
        limit: int,
        cursor: str | None,
    ) -> Page[StockRecord]:
        """Levels by store then variant, filtered by any of the three (``product_id``: every
        variant of the product)."""
        ...

    def movements(
        self, *, store_id: str, variant_id: str, limit: int, cursor: str | None
    ) -> Page[MovementRecord]:
        """One level's ledger, newest first."""
        ...

    def every_level(self) -> Iterable[StockRecord]:
        """Every level of every store (the auditor)."""
        ...

    def every_movement(self) -> Iterable[MovementRecord]:
        """Every ledger row of every level (the auditor)."""
        ...


class StoreDirectory(Protocol):
    """The facts orders, quotes and inventory need about a store."""

    def store_facts(self, store_id: str) -> StoreFacts | None:
        """Whether ``stores/{id}`` is active, offers pickup, and its country; ``None`` when
        there is no such store."""
        ...


class AtomicWriter(Protocol):
    """One optimistic commit: every write applies, or none does."""

    def commit(self, writes: Sequence[Write]) -> str:
        """Apply ``writes`` atomically; ``PreconditionFailed`` when an expected version moved, a
        document to update is gone, or a document to create exists (another writer won).
        Returns the commit's version: the version each document it created or changed now has
        (so a writer can answer what it wrote without reading it back)."""
        ...


class CartRepository(Protocol):
    """A customer's cart, one document per line (``users/{uid}/cart/{variant_id}``; a product
    without options is its own one variant): lines of different variants never contend, and
    each change of a line is one single-document write."""

    def lines(self, uid: str, *, limit: int) -> list[CartLine]:
        """Up to ``limit`` lines, the earliest added first (then by variant id)."""
        ...

    def count(self, uid: str) -> int:
        """How many lines the cart holds."""
        ...

    def create(self, uid: str, line: CartLine) -> str:
        """Store a new line and return its version; ``Conflict`` if the variant has a line."""
        ...

    def set_quantity(
        self, uid: str, variant_id: str, *, quantity: int, updated_at: datetime
    ) -> CartLine | None:
        """Change an existing line's quantity (one write); ``None`` when there is no such line."""
        ...

    def remove(self, uid: str, variant_id: str, *, expected_version: str | None = None) -> None:
        """Delete the line; a missing line is no error. With ``expected_version`` the line
        must still be at that version (else ``PreconditionFailed``, also when it is gone)."""
        ...

    def clear(self, uid: str) -> None:
        """Delete every line of the cart."""
        ...

    def versioned_lines(self, uid: str, *, limit: int) -> list[Versioned[CartLine]]:
        """As ``lines``, each with its version (a checkout deletes them at those versions)."""
        ...


class WishlistRepository(Protocol):
    """A customer's wishlist, one document per variant (``users/{uid}/wishlist/{variant_id}``)."""

    def page(self, uid: str, *, limit: int, cursor: str | None) -> Page[WishlistEntry]:
        """Entries newest first (then by variant id, descending)."""
        ...

    def get(self, uid: str, variant_id: str) -> WishlistEntry | None:
        """The entry, ``None`` when the variant is not on the wishlist."""
        ...

    def count(self, uid: str) -> int:
        """How many entries the wishlist holds."""
        ...

    def create(self, uid: str, entry: WishlistEntry) -> str:
        """Store a new entry and return its version; ``Conflict`` if the variant is listed."""
        ...

    def remove(self, uid: str, variant_id: str, *, expected_version: str | None = None) -> None:
        """Delete the entry; as ``CartRepository.remove``."""
        ...

    def versioned_entries(self, uid: str, *, limit: int) -> list[Versioned[WishlistEntry]]:
        """Up to ``limit`` entries, the earliest added first, each with its version."""
        ...

    def listed(self, uid: str, variant_ids: Sequence[str]) -> set[str]:
        """Which of ``variant_ids`` the wishlist holds."""
        ...


class CartMerges(Protocol):
    """Merging a guest's cart and wishlist into an account's (the cart's owner writes both)."""

    def commit(self, merge: CartMerge) -> None:
        """Apply ``merge`` in one atomic commit; ``PreconditionFailed`` when anything it names
        moved since it was read (nothing is written then)."""
        ...


class ShippingMethodRepository(Protocol):
    """Storage of shipping methods ``shipping_methods/{code}``."""

    def get(self, code: str) -> Versioned[ShippingMethod]:
        """One method, or ``NotFound``."""
        ...

    def all(self) -> list[ShippingMethod]:
        """Every method (at most ``MAX_METHODS``), by code."""
        ...

    def on_offer(self) -> list[ShippingMethod]:
        """The active methods, by code: the read model checkout and the public list use (a
        decorator may cache it; writes never decide from it)."""
        ...

    def create(self, method: ShippingMethod) -> Versioned[ShippingMethod]:
        """Store a new method; ``Conflict`` when the code exists."""
        ...

    def replace(
        self, method: ShippingMethod, *, expected_version: str
    ) -> Versioned[ShippingMethod]:
        """Overwrite a method read at ``expected_version``."""
        ...

    def delete(self, code: str, *, expected_version: str) -> None:
        """Remove a method read at ``expected_version``."""
        ...


class TaxRateRepository(Protocol):
    """Storage of tax rates ``tax_rates/{country}``."""

    def get(self, country: str) -> Versioned[TaxRate] | None:
        """The country's rate, ``None`` when it has none."""
        ...

    def rate(self, country: str) -> TaxRate | None:
        """The rate that taxes orders to ``country``: the read model pricing uses (a decorator
        may cache it; writes never decide from it)."""
        ...

    def put(self, rate: TaxRate, *, expected_version: str | None) -> Versioned[TaxRate]:
        """Create or overwrite the rate; with ``expected_version`` only that version."""
        ...

    def delete(self, country: str, *, expected_version: str | None) -> None:
        """Remove the rate (``NotFound`` when there is none)."""
        ...


class DiscountCodeRepository(Protocol):
    """Storage of discount codes ``discount_codes/{code}`` and their per-customer counts."""

    def get(self, code: str) -> Versioned[DiscountCode]:
        """One code, or ``NotFound``."""
        ...

    def find(self, code: str) -> Versioned[DiscountCode] | None:
        """One code, ``None`` when unknown."""
        ...

    def page(self, *, limit: int, cursor: str | None) -> Page[DiscountCode]:
        """Codes by code."""
        ...

    def create(self, code: DiscountCode) -> Versioned[DiscountCode]:
        """Store a new code; ``Conflict`` when it exists."""
        ...

    def replace(self, code: DiscountCode, *, expected_version: str) -> Versioned[DiscountCode]:
        """Write the admin's fields of a code read at ``expected_version`` (never
        ``times_used``: the reservation counts it)."""
        ...

    def delete(self, code: str, *, expected_version: str) -> None:
        """Remove a code read at ``expected_version``."""
        ...

    def customer_uses(self, code: str, uid: str) -> Versioned[int] | None:
        """How often ``uid`` used the code (confirmed orders), ``None`` before the first use."""
        ...


class RateCounter(Protocol):
    """Counts requests per key in sliding windows; a counter that cannot count allows."""

    def hit(self, key: str, limit: Limit) -> Decision:
        """Count one request for ``key`` if ``limit`` allows it; the decision either way."""
        ...

    def give_back(self, counted: str) -> None:
        """Take back a request an accepted ``hit`` counted (``Decision.counted``): it no longer
        uses the allowance. Best effort, like counting."""
        ...
