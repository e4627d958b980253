"""Product use cases: admin upkeep and the priced catalogue a shopper browses."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from celeste.catalog.categories import descendants
from celeste.catalog.events import product_event, revised
from celeste.catalog.products import Product, ProductCreate, ProductFilters, ProductPatch
from celeste.catalog.variants import Variant, VariantCreate, VariantPatch, check_variants
from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.cursors import refused
from celeste.kernel.errors import Conflict, NotFound, ValidationFailed
from celeste.kernel.ids import new_id
from celeste.kernel.paging import Page, is_offset, page_of
from celeste.kernel.versions import Versioned
from celeste.ports.catalog import CategoryRepository, ProductRepository, VariantUses
from celeste.ports.inventory import StockReader
from celeste.pricing.quotes import PricedLine, PricingSnapshot
from celeste.services.pricing import PricingService
from celeste.services.retry import REQUEST, Backoff, optimistic
from celeste.services.versioned import versioned_write

#: Most products a computed filter (text, price, stock) looks at; beyond it, use a search index.
SCAN_LIMIT = 1000
#: Firestore's limit on the values of one ``in`` filter.
IN_LIMIT = 30


@dataclass(frozen=True)
class VariantItem:
    """One variant as a shopper sees it: priced for their tier, with stock when a store is
    named."""

    variant: Variant
    pricing: PricedLine
    available: int | None = None


@dataclass(frozen=True)
class CatalogueItem:
    """A product as a shopper sees it: each variant priced for their tier (with stock when a
    store is named); the product's own ``pricing`` and ``available`` are its cheapest variant on
    sale's and the sum over its variants (a product without options: its one variant's)."""

    product: Product
    variants: tuple[VariantItem, ...]

    @property
    def on_sale(self) -> tuple[VariantItem, ...]:
        """The active variants (all of them for an inactive product an admin reads)."""
        active = tuple(v for v in self.variants if v.variant.active)
        return active or self.variants

    @property
    def pricing(self) -> PricedLine:
        """The cheapest variant on sale's line (the price lists sort and filter by)."""
        return min(self.on_sale, key=lambda v: v.pricing.unit_final_price).pricing

    @property
    def price_range(self) -> tuple[int, int]:
        """The lowest and highest unit price of the variants on sale, at the caller's price."""
        prices = [v.pricing.unit_final_price for v in self.on_sale]
        return min(prices), max(prices)

    @property
    def available(self) -> int | None:
        """Units available over the variants on sale at the store named (``None``: no store)."""
        counts = [v.available for v in self.on_sale if v.available is not None]
        return sum(counts) if counts else None


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
        variant_uses: VariantUses | None = None,
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
        self._variant_uses = variant_uses
        self._clock = clock
        self._ceiling_s = cache_ceiling_s

    # -- admin ------------------------------------------------------------------------------

    def create(self, request: ProductCreate) -> Versioned[Product]:
        """Add a product under an existing category; its SKU and its variants' must be free.

        With ``options``, its ``variants`` (1-250) are created with it, each with a fresh id;
        without, it sells as one variant whose id is the product's. The store links the
        category in the same commit (it must still exist then), so a racing category delete
        either sees this product (409) or this create re-checks (400).
        """
        check_variants(request.options, request.variants, product_sku=request.sku)
        now = self._clock()
        fields = request.model_dump(exclude={"variants"})
        variants = [Variant(id=new_id(), **v.model_dump()) for v in request.variants]
        product = revised(
            None, Product(id=new_id(), created_at=now, updated_at=now, variants=variants, **fields)
        )

        def attempt() -> Versioned[Product]:
            self._require_category(request.category_id)
            return self._repo.create(product, event=product_event(None, product))

        return optimistic(
            attempt, backoff=self._backoff, what="creating a product", sleep=self._sleep
        )

    def update(
        self, product_id: str, patch: ProductPatch, *, expected_version: str | None
    ) -> Versioned[Product]:
        """Apply the fields sent; a new category is linked as ``create`` links it; new
        ``options`` must still fit every variant."""
        changes = patch.changes()
        return self._write(
            product_id,
            lambda product: Product.model_validate({**product.model_dump(), **changes}),
            expected_version=expected_version,
        )

    def deactivate(self, product_id: str, *, expected_version: str | None) -> Versioned[Product]:
        """Soft delete: the product stays (orders refer to it) but leaves the catalogue
        (``product.deleted``); an inactive product is left as it is (no write, no event)."""
        return self._write(
            product_id,
            lambda product: (
                product.model_copy(update={"active": False}) if product.active else product
            ),
            expected_version=expected_version,
        )

    # -- variants ---------------------------------------------------------------------------

    def add_variant(
        self, product_id: str, request: VariantCreate, *, expected_version: str | None
    ) -> tuple[Versioned[Product], Variant]:
        """Add a variant to a product with options (its values must be new, its SKU free)."""
        variant = Variant(id=new_id(), **request.model_dump())

        def add(product: Product) -> Product:
            if not product.options:
                raise ValidationFailed.on(
                    "options",
                    f"product {product_id} has no options: it sells as one variant, itself",
                )
            return product.model_copy(update={"variants": [*product.variants, variant]})

        return self._write(product_id, add, expected_version=expected_version), variant

    def update_variant(
        self,
        product_id: str,
        variant_id: str,
        patch: VariantPatch,
        *,
        expected_version: str | None,
    ) -> tuple[Versioned[Product], Variant]:
        """Change the fields sent of one stored variant."""
        changes = patch.changes()

        def edit(product: Product) -> Product:
            index = _stored_index(product, variant_id)
            variants = list(product.variants)
            variants[index] = variants[index].model_copy(update=changes)
            return product.model_copy(update={"variants": variants})

        written = self._write(product_id, edit, expected_version=expected_version)
        return written, written.value.variant(variant_id)

    def delete_variant(
        self, product_id: str, variant_id: str, *, expected_version: str | None
    ) -> Versioned[Product]:
        """Remove a stored variant (not the last one): 409 while any store holds or reserves
        stock of it, or an open order has it (deactivate it instead)."""

        def drop(product: Product) -> Product:
            index = _stored_index(product, variant_id)
            if len(product.variants) == 1:
                raise Conflict(
                    f"variant {variant_id} is the last of product {product_id}: deactivate it "
                    "or the product instead"
                )
            in_use = self._variant_uses.in_use(variant_id) if self._variant_uses else None
            if in_use is not None:
                raise Conflict(f"variant {variant_id} {in_use}: deactivate it instead")
            variants = [v for i, v in enumerate(product.variants) if i != index]
            return product.model_copy(update={"variants": variants})

        return self._write(product_id, drop, expected_version=expected_version)

    def _write(
        self,
        product_id: str,
        change: Callable[[Product], Product],
        *,
        expected_version: str | None,
    ) -> Versioned[Product]:
        def write(current: Versioned[Product]) -> Versioned[Product]:
            before = current.value
            changed = change(before)
            if changed is before:  # nothing to write
                return current
            updated = revised(before, changed.model_copy(update={"updated_at": self._clock()}))
            check_variants(updated.options, updated.variants, product_sku=updated.sku)
            moved = updated.category_id != before.category_id
            if moved:
                self._require_category(updated.category_id)
            return self._repo.replace(
                updated,
                previous_skus=before.skus,
                expected_version=current.version,
                category_changed=moved,
                event=product_event(before, updated),
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
        (item,) = self._price(
            [found.value],
            tier=tier or snapshot.default_tier,
            snapshot=snapshot,
            store=store_id,
            quantity=quantity,
        )
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
        quantity: int = 1,
    ) -> list[CatalogueItem]:
        priced = self._pricing.price_variants(
            products, tier=tier, snapshot=snapshot, quantity=quantity
        )
        stock: dict[str, int] = {}
        if store is not None and products:
            keys = [key for p in products for key in p.variant_ids]
            stock = self._stock.available(store_id=store, keys=keys)
        return [
            CatalogueItem(
                p,
                tuple(
                    VariantItem(
                        variant, line, stock.get(variant.id, 0) if store is not None else None
                    )
                    for variant, line in zip(p.all_variants, lines, strict=True)
                ),
            )
            for p, lines in zip(products, priced, strict=True)
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


def _stored_index(product: Product, variant_id: str) -> int:
    for index, variant in enumerate(product.variants):
        if variant.id == variant_id:
            return index
    if variant_id == product.id and not product.variants:
        raise ValidationFailed.on(
            "variant_id",
            f"product {product.id} has no options: edit the product itself, not its variant",
        )
    raise NotFound(f"product {product.id} has no variant {variant_id}")


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
