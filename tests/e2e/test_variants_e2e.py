"""Variants over HTTP against the emulators: a product with options is made in one call, read
with each variant priced and stocked, kept by the variant routes, and ordered variant by variant
with no oversell under concurrency."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from google.cloud import firestore

from tests.e2e.conftest import Api, Shop, problem
from tests.e2e.test_orders_e2e import (
    ADDRESS,
    audit_clean,
    checkout,
    order_of,
    outcome,
    place,
    race_the_trigger,
    settled,
)
from tests.support.emulators import eventually
from tools.devauth import SignedIn

pytestmark = pytest.mark.e2e


def _tee(
    api: Api, admin: SignedIn, shop: Shop, *, sizes: tuple[str, ...] = ("S", "M", "L")
) -> dict[str, Any]:
    """A T-shirt in ``sizes`` (L dearer, at 1500) in the shop's category, made in one call."""
    any_product = api.request("GET", "products", f"/{next(iter(shop.products.values()))}").json()
    tag = uuid.uuid4().hex[:6].upper()
    response = api.request(
        "POST",
        "products",
        user=admin,
        json={
            "sku": f"TEE-{tag}",
            "name": f"Tee {tag}",
            "category_id": any_product["category_id"],
            "base_price": 1000,
            "currency": "EUR",
            "options": [{"name": "Size", "values": list(sizes)}],
            "variants": [
                {
                    "sku": f"TEE-{tag}-{size}",
                    "options": {"Size": size},
                    **({"base_price": 1500} if size == "L" else {}),
                }
                for size in sizes
            ],
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _variant(product: dict[str, Any], size: str) -> str:
    return next(str(v["id"]) for v in product["variants"] if v["options"] == {"Size": size})


def _stock(api: Api, admin: SignedIn, store_id: str, variant_id: str, units: int) -> None:
    response = api.request(
        "PUT", "inventory", f"/{store_id}/{variant_id}", user=admin, json={"on_hand": units}
    )
    assert response.status_code in (200, 201), response.text


def _level(api: Api, admin: SignedIn, store_id: str, variant_id: str) -> dict[str, Any]:
    response = api.request("GET", "inventory", f"/{store_id}/{variant_id}", user=admin)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _line(product: dict[str, Any], size: str, quantity: int = 1) -> dict[str, Any]:
    return {
        "product_id": product["id"],
        "variant_id": _variant(product, size),
        "quantity": quantity,
    }


def _order(store_id: str, *lines: dict[str, Any]) -> dict[str, Any]:
    return {"store_id": store_id, "shipping_address": ADDRESS, "lines": list(lines)}


def test_a_product_with_options_is_made_in_one_call_and_read_priced_per_variant(
    api: Api, admin: SignedIn, shop: Callable[..., Shop]
) -> None:
    store = shop({"mug": 1})
    tee = _tee(api, admin, store)
    assert [v["options"] for v in tee["variants"]] == [{"Size": s} for s in ("S", "M", "L")]
    ids = [v["id"] for v in tee["variants"]]
    assert len(set(ids)) == 3 and tee["id"] not in ids
    _stock(api, admin, store.store_id, _variant(tee, "M"), 4)

    read = api.request("GET", "products", f"/{tee['id']}?store_id={store.store_id}").json()
    by_size = {v["options"]["Size"]: v for v in read["variants"]}
    assert {s: v["pricing"]["final_price"] for s, v in by_size.items()} == {
        "S": 1000,
        "M": 1000,
        "L": 1500,
    }
    # A shopper is told "in stock" up to the quantity asked (1), never the count beyond it.
    assert {s: v["available"] for s, v in by_size.items()} == {"S": 0, "M": 1, "L": 0}
    assert read["price_range"] == {"min": 1000, "max": 1500, "currency": "EUR"}
    as_admin = api.request(
        "GET", "products", f"/{tee['id']}?store_id={store.store_id}", user=admin
    ).json()
    assert [v["available"] for v in as_admin["variants"]] == [0, 4, 0]

    # A product without options reads as one variant: itself.
    mug = api.request("GET", "products", f"/{store.products['mug']}").json()
    assert [(v["id"], v["sku"], v["options"]) for v in mug["variants"]] == [
        (mug["id"], mug["sku"], {})
    ]
    # The list stays a list of products, each with its range.
    listed = api.request("GET", "products", f"?category_id={tee['category_id']}&limit=50").json()
    row = next(p for p in listed["items"] if p["id"] == tee["id"])
    assert row["price_range"] == {"min": 1000, "max": 1500, "currency": "EUR"}


def test_variants_are_added_edited_and_deleted_and_their_rules_hold(
    api: Api, admin: SignedIn, shop: Callable[..., Shop]
) -> None:
    store = shop({"mug": 1})
    tee = _tee(api, admin, store, sizes=("S", "M"))
    path = f"/{tee['id']}/variants"
    sku = tee["variants"][0]["sku"]
    mug_id = store.products["mug"]
    mug_sku = api.request("GET", "products", f"/{mug_id}").json()["sku"]

    # A size the product does not list, the same map twice, a taken SKU, a product without
    # options: each refused, nothing written.
    bad = api.request(
        "POST", "products", path, user=admin, json={"sku": "X-1", "options": {"Size": "XL"}}
    )
    assert [e["field"] for e in problem(bad, 400)["errors"]] == ["variants[2].options"]  # type: ignore[union-attr]
    same = api.request(
        "POST", "products", path, user=admin, json={"sku": "X-2", "options": {"Size": "S"}}
    )
    assert [e["field"] for e in problem(same, 400)["errors"]] == ["variants[2].options"]  # type: ignore[union-attr]
    patched = api.request(
        "PATCH",
        "products",
        f"/{tee['id']}",
        user=admin,
        json={"options": [{"name": "Size", "values": ["S", "M", "L"]}]},
    )
    assert patched.status_code == 200, patched.text
    taken = api.request(
        "POST", "products", path, user=admin, json={"sku": mug_sku, "options": {"Size": "L"}}
    )
    problem(taken, 409)  # another product's SKU: unique shop-wide
    no_options = api.request(
        "POST", "products", f"/{mug_id}/variants", user=admin, json={"sku": "MUG-2", "options": {}}
    )
    problem(no_options, 400)

    added = api.request(
        "POST",
        "products",
        path,
        user=admin,
        json={"sku": f"{sku}-L", "options": {"Size": "L"}, "base_price": 1300},
    )
    assert added.status_code == 201, added.text
    large = _variant(added.json(), "L")
    assert added.headers["Location"].endswith(f"products/{tee['id']}/variants/{large}")
    edited = api.request(
        "PATCH", "products", f"{path}/{large}", user=admin, json={"base_price": 1400}
    )
    assert edited.status_code == 200, edited.text
    read = api.request("GET", "products", f"/{tee['id']}").json()
    assert {v["sku"]: v["pricing"]["final_price"] for v in read["variants"]}[f"{sku}-L"] == 1400

    # A variant holding stock is kept (409); one with none goes, and its SKU is free again.
    _stock(api, admin, store.store_id, large, 2)
    problem(api.request("DELETE", "products", f"{path}/{large}", user=admin), 409)
    _stock(api, admin, store.store_id, large, 0)
    gone = api.request("DELETE", "products", f"{path}/{large}", user=admin)
    assert gone.status_code == 204, gone.text
    assert len(api.request("GET", "products", f"/{tee['id']}").json()["variants"]) == 2
    again = api.request(
        "POST", "products", path, user=admin, json={"sku": f"{sku}-L", "options": {"Size": "L"}}
    )
    assert again.status_code == 201, again.text
    problem(api.request("DELETE", "products", f"{path}/nope", user=admin), 404)


def test_an_order_names_its_variants_and_freezes_them(
    api: Api, admin: SignedIn, customer: SignedIn, shop: Callable[..., Shop], db: firestore.Client
) -> None:
    store = shop({"mug": 5})
    tee = _tee(api, admin, store)
    for size in ("S", "M"):
        _stock(api, admin, store.store_id, _variant(tee, size), 3)
    rule = api.request(
        "POST",
        "pricing",
        "/price-lists",
        user=admin,
        json={
            "name": f"M only {uuid.uuid4().hex[:6]}",
            "priority": 1,
            "rules": [
                {
                    "target_type": "variant",
                    "target_id": _variant(tee, "M"),
                    "kind": "fixed",
                    "value": 100,
                }
            ],
        },
    )
    assert rule.status_code == 201, rule.text
    try:
        # The product has three variants: a line must say which.
        vague = place(
            api, customer, _order(store.store_id, {"product_id": tee["id"], "quantity": 1})
        )
        assert [e["field"] for e in problem(vague, 400)["errors"]] == ["lines[0].variant_id"]  # type: ignore[union-attr]
        twice = place(api, customer, _order(store.store_id, _line(tee, "S"), _line(tee, "S")))
        problem(twice, 400)

        mug_line = {"product_id": store.products["mug"], "quantity": 1}  # no variant_id: its own
        placed = place(
            api,
            customer,
            _order(store.store_id, _line(tee, "S", 2), _line(tee, "M", 1), mug_line),
            Prefer="wait=10",
        )
        assert placed.status_code in (201, 202), placed.text  # 202: not settled within the wait
        order_id = placed.json()["id"]
        assert settled(db, [order_id])[order_id] == "confirmed"
        lines = order_of(api, customer, order_id)["lines"]
        mug = api.request("GET", "products", f"/{store.products['mug']}").json()
        assert [(ln["variant_id"], ln["sku"], ln["options"], ln["line_total"]) for ln in lines] == [
            (_variant(tee, "S"), f"{tee['sku']}-S", {"Size": "S"}, 2000),
            (_variant(tee, "M"), f"{tee['sku']}-M", {"Size": "M"}, 900),
            (mug["id"], mug["sku"], {}, 1000),
        ]
        assert [ln["variant_title"] for ln in lines] == ["S", "M", None]
        assert [_level(api, admin, store.store_id, _variant(tee, s))["reserved"] for s in "SM"] == [
            2,
            1,
        ]
        # A variant with units reserved by an open order is kept.
        held = api.request(
            "DELETE", "products", f"/{tee['id']}/variants/{_variant(tee, 'M')}", user=admin
        )
        assert "reserves stock" in str(problem(held, 409)["detail"]) or "holds stock" in held.text
        cancelled = api.request("POST", "orders", f"/{order_id}/cancel", user=customer)
        assert cancelled.status_code == 200, cancelled.text
        eventually(
            lambda: all(
                _level(api, admin, store.store_id, _variant(tee, s))["reserved"] == 0 for s in "SM"
            ),
            timeout_s=60,
            what="the cancelled order's variants to be released",
        )
        audit_clean(api, admin)
    finally:
        api.request("DELETE", "pricing", f"/price-lists/{rule.json()['id']}", user=admin)


def test_forty_concurrent_orders_over_two_variants_with_five_each_confirm_exactly_ten(
    api: Api,
    admin: SignedIn,
    customers: list[SignedIn],
    shop: Callable[..., Shop],
    db: firestore.Client,
) -> None:
    store = shop({"mug": 1})
    tee = _tee(api, admin, store, sizes=("S", "M"))
    for size in ("S", "M"):
        _stock(api, admin, store.store_id, _variant(tee, size), 5)
    bodies = [_order(store.store_id, _line(tee, "SM"[n % 2])) for n in range(len(customers))]
    barrier = threading.Barrier(len(customers))

    def buy(pair: tuple[SignedIn, dict[str, Any]]) -> requests.Response:
        barrier.wait()
        return checkout(api, pair[0], pair[1])

    with ThreadPoolExecutor(len(customers)) as pool:
        responses = list(pool.map(buy, zip(customers, bodies, strict=True)))
    assert all(r.status_code in (200, 202) for r in responses), outcome(responses)
    race_the_trigger([r.json()["id"] for r in responses])
    statuses = settled(db, [r.json()["id"] for r in responses])
    assert list(statuses.values()).count("confirmed") == 10
    for size in ("S", "M"):
        variant = _variant(tee, size)
        level = _level(api, admin, store.store_id, variant)
        assert (level["on_hand"], level["reserved"]) == (5, 5)
        rows = api.request(
            "GET", "inventory", f"/{store.store_id}/{variant}/movements?limit=100", user=admin
        ).json()["items"]
        assert sum(r["delta_reserved"] for r in rows) == level["reserved"]
        assert sum(r["delta_on_hand"] for r in rows) == level["on_hand"]
    audit_clean(api, admin)


def test_a_reservation_over_variants_of_several_products_is_all_or_nothing(
    api: Api, admin: SignedIn, customer: SignedIn, shop: Callable[..., Shop], db: firestore.Client
) -> None:
    store = shop({"mug": 1})
    tee, other = _tee(api, admin, store), _tee(api, admin, store)
    _stock(api, admin, store.store_id, _variant(tee, "S"), 3)
    _stock(api, admin, store.store_id, _variant(other, "M"), 1)
    placed = place(
        api,
        customer,
        _order(store.store_id, _line(tee, "S", 2), _line(other, "M", 2)),
        Prefer="wait=10",
    )
    assert placed.status_code in (201, 202), placed.text  # 202: not settled within the wait
    order_id = placed.json()["id"]
    assert settled(db, [order_id])[order_id] == "rejected"
    (short,) = order_of(api, customer, order_id)["shortfalls"]
    assert short == {
        "product_id": other["id"],
        "variant_id": _variant(other, "M"),
        "requested": 2,
        "available": 1,
    }
    assert _level(api, admin, store.store_id, _variant(tee, "S"))["reserved"] == 0
    audit_clean(api, admin)
