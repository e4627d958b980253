"""Pricing use cases: price lists kept by admins, quotes and prices for a caller's tier."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from celeste.catalog.products import Product
from celeste.catalog.variants import Variant, ordered_options, variant_title
from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.errors import Conflict, ValidationFailed
from celeste.kernel.ids import new_id
from celeste.kernel.versions import Versioned
from celeste.ports.accounts import CustomerTiers
from celeste.ports.catalog import ProductRepository, StoreDirectory
from celeste.ports.inventory import StockReader
from celeste.ports.pricing import PriceListRepository, PricingSource
from celeste.pricing.events import price_list_event, revised
from celeste.pricing.price_lists import (
    MAX_PRICE_LISTS,
    PricedProduct,
    PriceList,
    PriceListBody,
    PriceListPatch,
)
from celeste.pricing.quotes import PricedLine, PricingSnapshot, Quote, price_line, quote
from celeste.services.retry import REQUEST, Backoff
from celeste.services.stores import require_open_store
from celeste.services.versioned import versioned_write


@dataclass(frozen=True)
class QuoteLine:
    """One line asked for: a variant of a product (``None``: the product's only variant) and a
    quantity."""

    product_id: str
    quantity: int
    variant_id: str | None = None


@dataclass(frozen=True)
class HeldTier:
    """The tier on the caller's profile as this request already read it (``code`` ``None``:
    the profile holds none), so pricing does not read the profile again."""

    code: str | None


class PriceListService:
    """Admin upkeep of price lists."""

    def __init__(
        self,
        *,
        repository: PriceListRepository,
        clock: Clock = utcnow,
        backoff: Backoff = REQUEST,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._backoff = backoff
        self._sleep = sleep
        self._repo = repository
        self._clock = clock

    def list(self) -> list[PriceList]:
        """Every list, by priority then id."""
        return sorted(self._repo.all(), key=lambda p: (p.priority, p.id))

    def get(self, price_list_id: str) -> Versioned[PriceList]:
        """One list."""
        return self._repo.get(price_list_id)

    def create(self, body: PriceListBody) -> Versioned[PriceList]:
        """Add a list (at most ``MAX_PRICE_LISTS`` exist)."""
        if len(self._repo.all()) >= MAX_PRICE_LISTS:
            raise Conflict(f"at most {MAX_PRICE_LISTS} price lists may exist")
        created = revised(None, PriceList(id=new_id(), **body.model_dump()))
        return self._repo.create(created, event=price_list_event(created, at=self._clock()))

    def update(
        self, price_list_id: str, patch: PriceListPatch, *, expected_version: str | None
    ) -> Versioned[PriceList]:
        """Apply the fields sent; the result is validated as a whole."""

        def write(current: Versioned[PriceList]) -> Versioned[PriceList]:
            updated = revised(current.value, patch.apply(current.value))
            return self._repo.replace(
                updated,
                expected_version=current.version,
                event=price_list_event(updated, at=self._clock()),
            )

        return versioned_write(
            lambda: self._repo.get(price_list_id),
            write,
            expected_version=expected_version,
            subject=f"price list {price_list_id}",
            what=f"updating price list {price_list_id}",
            backoff=self._backoff,
            sleep=self._sleep,
        )

    def delete(self, price_list_id: str, *, expected_version: str | None) -> None:
        """Remove a list; its last event tells it is gone."""

        def write(current: Versioned[PriceList]) -> None:
            gone = revised(current.value, current.value)
            self._repo.delete(
                price_list_id,
                expected_version=current.version,
                event=price_list_event(gone, at=self._clock(), deleted=True),
            )

        versioned_write(
            lambda: self._repo.get(price_list_id),
            write,
            expected_version=expected_version,
            subject=f"price list {price_list_id}",
            what=f"deleting price list {price_list_id}",
            backoff=self._backoff,
            sleep=self._sleep,
        )


class PricingService:
    """Prices for a caller: the tier they hold, the lists open to it, the engine's choice."""

    def __init__(
        self,
        *,
        source: PricingSource,
        products: ProductRepository,
        tiers: CustomerTiers,
        stock: StockReader | None = None,
        stores: StoreDirectory | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._source = source
        self._products = products
        self._tiers = tiers
        self._stock = stock
        self._stores = stores
        self._clock = clock

    def tier_for(
        self,
        uid: str | None,
        *,
        snapshot: PricingSnapshot | None = None,
        strict: bool = False,
        known: HeldTier | None = None,
    ) -> str:
        """The caller's tier; anonymous callers and customers without one get the default.
        ``known``: the profile's tier as the caller already read it (no read here)."""
        held = known.code if known is not None else self.held_tier(uid, strict=strict)
        if held is not None:
            return held
        return (snapshot or self._source.snapshot(strict=strict)).default_tier

    def held_tier(self, uid: str | None, *, strict: bool = False) -> str | None:
        """The tier on the caller's profile, ``None`` for anonymous callers and customers
        without one (they hold the default tier, whatever it is when prices are computed)."""
        return self._tiers.tier_of(uid, strict=strict) if uid else None

    def snapshot(self) -> PricingSnapshot:
        """The pricing inputs for browsing (lists, category tree, default tier)."""
        return self._source.snapshot()

    def price_variants(
        self,
        products: Sequence[Product],
        *,
        tier: str,
        snapshot: PricingSnapshot,
        quantity: int = 1,
    ) -> list[list[PricedLine]]:
        """Each variant of each product priced for ``tier`` (no further reads: all inputs are in
        hand), in ``Product.all_variants`` order."""
        now = self._clock()
        return [
            [
                price_line(
                    product=_engine_input(snapshot, p, variant),
                    quantity=quantity,
                    tier=tier,
                    price_lists=snapshot.price_lists,
                    now=now,
                )
                for variant in p.all_variants
            ]
            for p in products
        ]

    def quote(
        self,
        lines: Sequence[QuoteLine],
        *,
        uid: str | None,
        store_id: str | None = None,
        products: Mapping[str, Product] | None = None,
        held: HeldTier | None = None,
    ) -> Quote:
        """Price every line for the caller: unknown or inactive products and variants are
        invalid fields (a product with several variants needs the line's ``variant_id``).

        ``products`` (the lines' products as this request already read them, absent ones
        missing) and ``held`` (the caller's tier as read) spare reading them again.

        With ``store_id`` (a store open for orders, else 400 on ``store_id``) each line also says
        how many units that store has available now (one batched stock read). Money is priced
        from inputs that reflect every acknowledged edit (``strict``): orders and carts price
        through here.
        """
        snapshot = self._source.snapshot(strict=True)
        tier = self.tier_for(uid, snapshot=snapshot, strict=True, known=held)
        found = (
            products
            if products is not None
            else self._products.get_many([line.product_id for line in lines])
        )
        priced = []
        chosen: list[tuple[Product, Variant]] = []
        for index, line in enumerate(lines):
            product = found.get(line.product_id)
            if product is None or not product.active:
                raise ValidationFailed.on(
                    f"lines[{index}].product_id", f"no active product {line.product_id}"
                )
            variant = product.resolve(line.variant_id, field=f"lines[{index}].variant_id")
            if not variant.active:
                raise ValidationFailed.on(
                    f"lines[{index}].variant_id", f"variant {variant.id} is not on sale"
                )
            chosen.append((product, variant))
            priced.append((_engine_input(snapshot, product, variant), line.quantity))
        if store_id is not None:
            self._require_open_store(store_id)
        result = quote(lines=priced, tier=tier, price_lists=snapshot.price_lists, now=self._clock())
        result = result.model_copy(
            update={
                "lines": [
                    line.model_copy(
                        update={
                            "name": product.name,
                            "sku": variant.sku,
                            "options": ordered_options(product.options, variant.options),
                            "variant_title": variant_title(product.options, variant),
                        }
                    )
                    for line, (product, variant) in zip(result.lines, chosen, strict=True)
                ]
            }
        )
        if store_id is None:
            return result
        assert self._stock is not None  # _require_open_store checked the wiring
        levels = self._stock.available(
            store_id=store_id, keys=[line.variant_id for line in result.lines]
        )
        return result.at_store(store_id, levels)

    def _require_open_store(self, store_id: str) -> None:
        if self._stores is None or self._stock is None:
            raise TypeError("PricingService needs stock= and stores= to quote at a store")
        require_open_store(self._stores, store_id)


def _engine_input(snapshot: PricingSnapshot, product: Product, variant: Variant) -> PricedProduct:
    return snapshot.product_input(
        product_id=product.id,
        variant_id=variant.id,
        base_price=product.unit_price(variant),
        currency=product.currency,
        category_id=product.category_id,
    )
