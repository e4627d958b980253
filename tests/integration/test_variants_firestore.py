"""The variant adapters against the Firestore emulator: a product's variants are stored in its
document with their SKUs claimed shop-wide, a variant id finds its product, and the two reads
that keep a variant from being deleted (stock held anywhere, an open order) answer from the
stored documents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from google.cloud import firestore

from celeste.catalog.products import Product, ProductCreate, ProductPatch
from celeste.catalog.variants import VariantCreate
from celeste.inventory.records import StockRecord
from celeste.kernel.errors import Conflict
from celeste.orders.order import Order
from celeste.services.products import ProductService
from celeste.writes import CreateOrder, PutLevel
from celeste_functions.adapters.categories import FirestoreCategories
from celeste_functions.adapters.inventory import FirestoreInventory
from celeste_functions.adapters.orders import FirestoreOrders
from celeste_functions.adapters.products import FirestoreProducts
from celeste_functions.composition import _VariantUses
from tests.support.writers import uncached_writer

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _service(db: firestore.Client) -> tuple[ProductService, FirestoreProducts]:
    writer = uncached_writer(db)
    products = FirestoreProducts(client=lambda: db, writer=writer)
    inventory, orders = FirestoreInventory(client=lambda: db), FirestoreOrders(client=lambda: db)
    service = ProductService(
        repository=products,
        categories=FirestoreCategories(client=lambda: db, writer=writer),
        pricing=cast(Any, None),  # upkeep never prices
        stock=inventory,
        variant_uses=_VariantUses(inventory=inventory, orders=orders),
    )
    category = {"name": "Cat", "slug": "cat", "parent_id": None, "created_at": T0, "updated_at": T0}
    db.collection("categories").document("cat").set(category)
    return service, products


def _tee(service: ProductService, sku: str = "TEE") -> Product:
    body = {
        "sku": sku,
        "name": "Tee",
        "category_id": "cat",
        "base_price": 1000,
        "currency": "EUR",
        "options": [{"name": "Size", "values": ["S", "M", "L"]}],
        "variants": [
            {"sku": f"{sku}-S", "options": {"Size": "S"}},
            {"sku": f"{sku}-M", "options": {"Size": "M"}, "base_price": 1200},
        ],
    }
    return service.create(ProductCreate.model_validate(body)).value


def _claims(db: firestore.Client) -> dict[str, dict[str, Any]]:
    return {s.id: s.to_dict() or {} for s in db.collection("product_skus").stream()}


def test_variants_are_stored_with_the_product_and_their_skus_claimed(db: firestore.Client) -> None:
    service, products = _service(db)
    tee = _tee(service)
    small, medium = tee.variants
    assert _claims(db) == {
        "TEE": {"product_id": tee.id},
        "TEE-S": {"product_id": tee.id, "variant_id": small.id},
        "TEE-M": {"product_id": tee.id, "variant_id": medium.id},
    }
    stored = db.collection("products").document(tee.id).get().to_dict() or {}
    assert stored["variant_ids"] == [small.id, medium.id]
    assert products.get(tee.id).value == tee
    # A variant id finds its product; a product without options is found by its own id.
    assert products.by_variant(medium.id) == tee
    plain = service.create(
        ProductCreate(sku="MUG", name="Mug", category_id="cat", base_price=500, currency="EUR")
    ).value
    assert products.by_variant(plain.id) == plain
    assert products.by_variant(tee.id) is None  # a product with options is not its own variant
    assert products.by_variant("nope") is None


def test_a_taken_sku_is_a_conflict_and_a_freed_one_can_be_claimed_again(
    db: firestore.Client,
) -> None:
    service, _ = _service(db)
    tee = _tee(service)
    with pytest.raises(Conflict):
        _tee(service, sku="TEE")  # the product's SKU
    other = service.create(
        ProductCreate(sku="CAP", name="Cap", category_id="cat", base_price=500, currency="EUR")
    ).value
    with pytest.raises(Conflict):  # another product's SKU
        service.add_variant(
            tee.id, VariantCreate(sku="CAP", options={"Size": "L"}), expected_version=None
        )
    with pytest.raises(Conflict):  # another product's variant SKU
        service.update(other.id, ProductPatch(sku="TEE-S"), expected_version=None)
    assert _claims(db).keys() == {"TEE", "TEE-S", "TEE-M", "CAP"}

    written = service.delete_variant(tee.id, tee.variants[0].id, expected_version=None).value
    assert [v.sku for v in written.variants] == ["TEE-M"]
    assert "TEE-S" not in _claims(db)
    service.update(other.id, ProductPatch(sku="TEE-S"), expected_version=None)
    assert _claims(db)["TEE-S"] == {"product_id": other.id}
    assert "CAP" not in _claims(db)


def test_a_variant_in_use_is_found_by_its_stock_anywhere_and_by_its_open_orders(
    db: firestore.Client,
) -> None:
    service, _ = _service(db)
    tee = _tee(service)
    small, medium = tee.variants
    inventory, orders = FirestoreInventory(client=lambda: db), FirestoreOrders(client=lambda: db)
    uses = _VariantUses(inventory=inventory, orders=orders)
    writer = uncached_writer(db)
    assert uses.in_use(small.id) is None
    # A level elsewhere, with nothing on hand or reserved, holds nothing.
    empty = StockRecord.empty(store_id="s1", product_id=tee.id, variant_id=small.id, at=T0)
    writer.commit([PutLevel(empty, expected_version=None)])
    assert uses.in_use(small.id) is None
    held = StockRecord.empty(store_id="s2", product_id=tee.id, variant_id=small.id, at=T0)
    writer.commit([PutLevel(held.model_copy(update={"on_hand": 3}), expected_version=None)])
    assert uses.in_use(small.id) == "holds stock at store s2"

    order = Order.model_validate(
        {
            "id": "o1",
            "user_id": "u1",
            "store_id": "s1",
            "status": "pending",
            "currency": "EUR",
            "tier": "BRONZE",
            "lines": [
                {
                    "product_id": tee.id,
                    "variant_id": medium.id,
                    "quantity": 1,
                    "currency": "EUR",
                    "unit_base_price": 1200,
                    "unit_final_price": 1200,
                    "line_subtotal": 1200,
                    "line_discount": 0,
                    "line_total": 1200,
                }
            ],
            "subtotal": 1200,
            "discount_total": 0,
            "total": 1200,
            "created_at": T0,
            "updated_at": T0,
        }
    )
    writer.commit([CreateOrder(order)])
    assert uses.in_use(medium.id) == "is on an open order"
    with pytest.raises(Conflict, match="open order"):
        service.delete_variant(tee.id, medium.id, expected_version=None)
    db.collection("orders").document("o1").update({"status": "delivered"})
    assert uses.in_use(medium.id) is None
