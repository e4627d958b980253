"""Product use cases: admin upkeep and the priced catalogue a shopper browses."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from celeste.catalog.categories import descendants
from celeste.catalog.products import Product, ProductCreate, ProductFilters, ProductPatch
from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.cursors import refused
from celeste.kernel.errors import NotFound, ValidationFailed
from celeste.kernel.ids import new_id
from celeste.kernel.paging import Page, is_offset, page_of
from celeste.kernel.versions import Versioned
from celeste.ports.catalog import CategoryRepository, ProductRepository
from celeste.ports.inventory import StockReader
from celeste.pricing.price_lists import PricedLine, PricingSnapshot
from celeste.services.pricing import PricingService
from celeste.services.retry import REQUEST, Backoff, optimistic
from celeste.services.versioned import versioned_write

#: Most products a computed filter (text, price, stock) looks at; beyond it, use a search index.
SCAN_LIMIT = 1000
#: Firestore's limit on the values of one ``in`` filter.
IN_LIMIT = 30


@dataclass(frozen=True)
class CatalogueItem:
    """A product as a shopper sees it: priced for their tier, with stock when a store is named."""

    product: Product
    pricing: PricedLine
    available: int | None = None


@dataclass(frozen=True)
class Catalogue:
    """A priced page and how long its prices stay right (until a price list starts or ends)."""

    page: Page[CatalogueItem]
    fresh_for_s: int
    #: True when a computed filter stopped at ``SCAN_LIMIT`` products: matches may be missing.
    incomplete: bool = False


class ProductService:
    """The products resource's rules."""

    def __init__(
        self,
        *,
        repository: ProductRepository,
        categories: CategoryRepository,
        pricing: PricingService,
        stock: StockReader,
        clock: Clock = utcnow,
        cache_ceiling_s: int = 300,
        backoff: Backoff = REQUEST,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._backoff = backoff
        self._sleep = sleep
        self._repo = repository
        self._categories = categories
        self._pricing = pricing
        self._stock = stock
        self._clock = clock
        self._ceiling_s = cache_ceiling_s

    # -- admin ------------------------------------------------------------------------------

    def create(self, request: ProductCreate) -> Versioned[Product]:
        """Add a product under an existing category; the SKU must be free.

        The store links the category in the same commit (it must still exist then), so a
        racing category delete either sees this product (409) or this create re-checks (400).
        """
        now = self._clock()
        product = Product(id=new_id(), created_at=now, updated_at=now, **request.model_dump())

        def attempt() -> Versioned[Product]:
            self._require_category(request.category_id)
            return self._repo.create(product)

        return optimistic(
            attempt, backoff=self._backoff, what="creating a product", sleep=self._sleep
        )

    def update(
        self, product_id: str, patch: ProductPatch, *, expected_version: str | None
    ) -> Versioned[Product]:
        """Apply the fields sent; a new category is linked as ``create`` links it."""
        changes = patch.changes()
        return self._write(product_id, changes, expected_version=expected_version)

    def deactivate(self, product_id: str, *, expected_version: str | None) -> Versioned[Product]:
        """Soft delete: the product stays (orders refer to it) but leaves the catalogue."""
        return self._write(product_id, {"active": False}, expected_version=expected_version)

    def _write(
        self, product_id: str, changes: dict[str, object], *, expected_version: str | None
    ) -> Versioned[Product]:
        def write(current: Versioned[Product]) -> Versioned[Product]:
            moved = "category_id" in changes and changes["category_id"] != current.value.category_id
            if moved:
                self._require_category(str(changes["category_id"]))
            updated = current.value.model_copy(update={**changes, "updated_at": self._clock()})
            return self._repo.replace(
                updated,
                previous_sku=current.value.sku,
                expected_version=current.version,
                category_changed=moved,
            )

        return versioned_write(
            lambda: self._repo.get(product_id),
            write,
            expected_version=expected_version,
            subject=f"product {product_id}",
            what=f"updating product {product_id}",
            backoff=self._backoff,
            sleep=self._sleep,
        )

    def _require_category(self, category_id: str) -> None:
        try:
            self._categories.get(category_id)
        except NotFound:
            raise ValidationFailed.on("category_id", f"no category {category_id}") from None

    # -- catalogue --------------------------------------------------------------------------

    def item(
        self,
        product_id: str,
        *,
        tier: str | None,
        include_inactive: bool,
        quantity: int = 1,
        store_id: str | None = None,
    ) -> tuple[Versioned[Product], CatalogueItem, int]:
        """One product priced for ``tier`` (``None``: the default tier) at ``quantity``, and how
        long the price holds."""
        found = self._repo.get(product_id)
        if not found.value.active and not include_inactive:
            raise NotFound(f"no product {product_id}")
        snapshot = self._pricing.snapshot()
        (line,) = self._pricing.price_products(
            [found.value], tier=tier or snapshot.default_tier, snapshot=snapshot, quantity=quantity
        )
        available = None
        if store_id is not None:
            available = self._stock.available(store_id=store_id, product_ids=[product_id])[
                product_id
            ]
        item = CatalogueItem(found.value, line, available)
        return found, item, self._fresh_for(snapshot)

    def catalogue(
        self,
        filters: ProductFilters,
        *,
        tier: str | None,
        include_inactive: bool,
        limit: int,
        cursor: str | None,
    ) -> Catalogue:
        """A page of the catalogue, priced for ``tier`` (``None``: the default tier).

        Filters Firestore can answer (active, category subtree) run as one indexed page query:
        ``limit + 1`` product reads. Text, price and stock filters and price sorting run over at
        most ``SCAN_LIMIT`` products; when more exist the result says ``incomplete``. Prices come
        from the cached snapshot either way: no read per product per rule.
        """
        filters.check()
        snapshot = self._pricing.snapshot()
        tier = tier or snapshot.default_tier
        category_ids = self._category_subtree(filters.category_id, snapshot)
        if not filters.needs_scan and (category_ids is None or len(category_ids) <= IN_LIMIT):
            if cursor is not None and is_offset(cursor):
                raise refused()
            page = self._repo.page(
                category_ids=category_ids,
                active_only=not include_inactive,
                limit=limit,
                cursor=cursor,
            )
            items = self._price(page.items, tier=tier, snapshot=snapshot, store=filters.store_id)
            return Catalogue(Page(items, page.next_cursor), self._fresh_for(snapshot))
        scanned = self._repo.scan(
            category_ids=category_ids, active_only=not include_inactive, limit=SCAN_LIMIT + 1
        )
        incomplete = len(scanned) > SCAN_LIMIT
        matching = [p for p in scanned[:SCAN_LIMIT] if filters.matches_text(p)]
        items = self._price(matching, tier=tier, snapshot=snapshot, store=filters.store_id)
        items = [i for i in items if _passes(i, filters)]
        items.sort(key=_sort_key(filters.sort), reverse=filters.sort.startswith("-"))
        chunk = page_of(items, limit=limit, cursor=cursor)
        return Catalogue(chunk, self._fresh_for(snapshot), incomplete=incomplete)

    def _price(
        self,
        products: Sequence[Product],
        *,
        tier: str,
        snapshot: PricingSnapshot,
        store: str | None,
    ) -> list[CatalogueItem]:
        lines = self._pricing.price_products(products, tier=tier, snapshot=snapshot)
        stock: dict[str, int] = {}
        if store is not None and products:
            stock = self._stock.available(store_id=store, product_ids=[p.id for p in products])
        return [
            CatalogueItem(p, line, stock.get(p.id, 0) if store is not None else None)
            for p, line in zip(products, lines, strict=True)
        ]

    def _category_subtree(
        self, category_id: str | None, snapshot: PricingSnapshot
    ) -> list[str] | None:
        if category_id is None:
            return None
        if category_id not in snapshot.parents:
            raise ValidationFailed.on("category_id", f"no category {category_id}")
        return sorted(descendants(snapshot.parents, category_id))

    def _fresh_for(self, snapshot: PricingSnapshot) -> int:
        return snapshot.expires_in_s(now=self._clock(), ceiling_s=self._ceiling_s)


def _passes(item: CatalogueItem, filters: ProductFilters) -> bool:
    price = item.pricing.unit_final_price
    if filters.min_price is not None and price < filters.min_price:
        return False
    if filters.max_price is not None and price > filters.max_price:
        return False
    if filters.in_stock is not None:
        return ((item.available or 0) > 0) == filters.in_stock
    return True


def _sort_key(sort: str) -> Callable[[CatalogueItem], tuple[Any, ...]]:
    field = sort.lstrip("-")
    if field == "price":
        return lambda i: (i.pricing.unit_final_price, i.product.name_key, i.product.id)
    if field == "created_at":
        return lambda i: (i.product.created_at, i.product.id)
    return lambda i: (i.product.name_key, i.product.id)
