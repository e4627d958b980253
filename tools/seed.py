#!/usr/bin/env python3
"""Seed the local stack with demo data through the public API (so triggers fire as in real use).

Needs FIREBASE_AUTH_EMULATOR_HOST and CELESTE_FUNCTIONS_URL (``make dev`` sets both). Idempotent:
what already exists is left as it is.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from celeste.accounts.tiers import DEMO_TIERS
from tools.devauth import AuthEmulator, SignedIn

PASSWORD = "celeste-demo"
CATEGORIES = [  # (slug, name, parent slug)
    ("groceries", "Groceries", None),
    ("fruit", "Fruit", "groceries"),
    ("vegetables", "Vegetables", "groceries"),
    ("bakery", "Bakery", "groceries"),
    ("household", "Household", None),
    ("clothing", "Clothing", None),
]


STORES: list[dict[str, Any]] = [  # three demo stores with real coordinates (WGS 84)
    {
        "name": "Celeste Lisboa Baixa",
        "address": {
            "line1": "Rua Augusta 100",
            "city": "Lisboa",
            "postal_code": "1100-053",
            "country": "PT",
        },
        "location": {"lat": 38.7106, "lng": -9.1379},
        "phone": "+351 21 000 0100",
        "pickup": True,
    },
    {
        "name": "Celeste Porto Santa Catarina",
        "address": {
            "line1": "Rua de Santa Catarina 312",
            "city": "Porto",
            "postal_code": "4000-443",
            "country": "PT",
        },
        "location": {"lat": 41.1492, "lng": -8.6066},
        "phone": "+351 22 000 0200",
    },
    {
        "name": "Celeste Madrid Sol",
        "address": {
            "line1": "Calle de Preciados 9",
            "city": "Madrid",
            "region": "Comunidad de Madrid",
            "postal_code": "28013",
            "country": "ES",
        },
        "location": {"lat": 40.4180, "lng": -3.7060},
        "phone": "+34 910 000 300",
    },
]


def call(method: str, url: str, token: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """One JSON request; returns status and decoded body."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def main() -> int:
    """Create the demo users and catalogue."""
    base = os.environ["CELESTE_FUNCTIONS_URL"]
    auth = AuthEmulator()
    admin = auth.user("admin@celeste.test", PASSWORD, role="admin")
    # Its profile, which says admin too: firestore.rules want both before an admin's reads.
    call("GET", f"{base}/me", admin.id_token)
    auth.user("customer@celeste.test", PASSWORD)
    gold = auth.user("gold@celeste.test", PASSWORD)
    print(
        "users: admin@celeste.test (admin), customer@celeste.test, gold@celeste.test (GOLD); "
        f"password {PASSWORD}"
    )
    _, existing = call("GET", f"{base}/categories?limit=100", admin.id_token)
    ids = {c["slug"]: c["id"] for c in existing["items"]}
    for slug, name, parent in CATEGORIES:
        if slug in ids:
            continue
        status, body = call(
            "POST",
            f"{base}/categories",
            admin.id_token,
            {"slug": slug, "name": name, "parent_id": ids.get(parent) if parent else None},
        )
        if status != 201:
            print(f"could not create category {slug}: {status} {body}", file=sys.stderr)
            return 1
        ids[slug] = body["id"]
    print(f"categories: {', '.join(ids)}")
    return (
        seed_tiers(base, admin.id_token)
        or seed_stores(base, admin.id_token)
        or seed_products(base, admin.id_token, ids)
        or seed_price_lists(base, admin.id_token, ids)
        or seed_stock(base, admin.id_token)
        or seed_gold_customer(base, admin.id_token, gold)
        or seed_checkout(base, admin.id_token)
    )


def seed_gold_customer(base: str, token: str, gold: SignedIn) -> int:
    """gold@celeste.test holds GOLD (locked, so no order re-evaluates it): the storefront shows
    it the GOLD price list's prices."""
    call("GET", f"{base}/me", gold.id_token)  # the profile is made on the user's first call
    status, answer = call(
        "PATCH", f"{base}/users/{gold.uid}", token, {"tier": "GOLD", "tier_locked": True}
    )
    if status != 200:
        print(f"could not make {gold.email} GOLD: {status} {answer}", file=sys.stderr)
        return 1
    print("gold customer: gold@celeste.test holds GOLD")
    return 0


PRODUCTS = [  # (sku, name, category slug, base price in cents, image under web/public/images)
    ("FRU-APPLE", "Apples (1 kg)", "fruit", 349, "apples.svg"),
    ("FRU-BANANA", "Bananas (1 kg)", "fruit", 199, "bananas.svg"),
    ("FRU-ORANGE", "Oranges (1 kg)", "fruit", 279, "oranges.svg"),
    ("VEG-CARROT", "Carrots (1 kg)", "vegetables", 129, "carrots.svg"),
    ("VEG-TOMATO", "Tomatoes (500 g)", "vegetables", 249, "tomatoes.svg"),
    ("BAK-SOURDOUGH", "Sourdough loaf", "bakery", 450, "sourdough.svg"),
    ("BAK-CROISSANT", "Croissant", "bakery", 135, "croissant.svg"),
    ("HOU-SOAP", "Dish soap", "household", 299, "soap.svg"),
]
#: Products sold in variants: (sku, name, category slug, base price, image, option name,
#: [(variant sku, option value, own base price or None: the product's)]). Each variant is
#: stocked on its own (``seed_stock``).
VARIANT_PRODUCTS: list[tuple[str, str, str, int, str, str, list[tuple[str, str, int | None]]]] = [
    (
        "CLO-TEE",
        "Organic cotton T-shirt",
        "clothing",
        1500,
        "tshirt.svg",
        "Size",
        [
            ("CLO-TEE-S", "S", None),
            ("CLO-TEE-M", "M", None),
            ("CLO-TEE-L", "L", None),
            ("CLO-TEE-XL", "XL", 1700),
        ],
    ),
    (
        "HOU-MUG",
        "Stoneware mug",
        "household",
        899,
        "mug.svg",
        "Colour",
        [
            ("HOU-MUG-RED", "Red", None),
            ("HOU-MUG-BLUE", "Blue", None),
            ("HOU-MUG-GREEN", "Green", None),
        ],
    ),
]
#: The variant the demo's variant-scoped price rule marks down (``seed_price_lists``).
MARKED_DOWN_VARIANT = "HOU-MUG-GREEN"
#: Where the storefront serves the product images (the Hosting emulator in ``make dev``).
STOREFRONT = os.environ.get("CELESTE_STOREFRONT_URL", "http://127.0.0.1:5000").rstrip("/")


def seed_products(base: str, token: str, categories: dict[str, str]) -> int:
    """A small priced catalogue in EUR, matched by SKU: single products, and two sold in
    variants (created with them in one call; a product that exists is left as it is)."""
    bodies: list[dict[str, Any]] = [
        {
            "sku": sku,
            "name": name,
            "category_id": categories[slug],
            "base_price": price,
            "currency": "EUR",
            "image_url": f"{STOREFRONT}/images/{image}",
        }
        for sku, name, slug, price, image in PRODUCTS
    ]
    bodies += [
        {
            "sku": sku,
            "name": name,
            "category_id": categories[slug],
            "base_price": price,
            "currency": "EUR",
            "image_url": f"{STOREFRONT}/images/{image}",
            "options": [{"name": option, "values": [value for _, value, _ in variants]}],
            "variants": [
                {"sku": variant_sku, "options": {option: value}}
                | ({} if own_price is None else {"base_price": own_price})
                for variant_sku, value, own_price in variants
            ],
        }
        for sku, name, slug, price, image, option, variants in VARIANT_PRODUCTS
    ]
    have = create_missing(
        base, token, path="products", listing="products?limit=100", key="sku", bodies=bodies
    )
    if have is None:
        return 1
    print(f"products: {len(have)}")
    return 0


def seed_price_lists(base: str, token: str, categories: dict[str, str]) -> int:
    """Price lists that show tier pricing, quantity bands and a rule on one variant, matched by
    name."""
    marked_down = variant_id(base, token, product_sku="HOU-MUG", sku=MARKED_DOWN_VARIANT)
    if marked_down is None:
        print(f"no variant {MARKED_DOWN_VARIANT} to mark down", file=sys.stderr)
        return 1
    lists: list[dict[str, Any]] = [
        {
            "name": "Gold and Platinum 10%",
            "priority": 10,
            "tiers": ["GOLD", "PLATINUM"],
            "rules": [{"scope": "all", "kind": "percentage", "value": 10}],
        },
        {
            "name": "Fruit by the box",
            "priority": 5,
            "rules": [
                {
                    "scope": "category",
                    "target_id": categories["fruit"],
                    "kind": "fixed",
                    "value": 50,
                    "min_quantity": 10,
                }
            ],
        },
        {
            "name": "Green mugs 2 EUR off",
            "priority": 20,
            "rules": [
                {
                    "scope": "variant",
                    "target_id": marked_down,
                    "kind": "fixed",
                    "value": 200,
                }
            ],
        },
    ]
    have = create_missing(
        base,
        token,
        path="pricing/price-lists",
        listing="pricing/price-lists?limit=100",
        key="name",
        bodies=lists,
    )
    if have is None:
        return 1
    print(f"price lists: {', '.join(sorted(have))}")
    return 0


def variant_id(base: str, token: str, *, product_sku: str, sku: str) -> str | None:
    """The id of the variant ``sku`` of the product ``product_sku`` (found by a text query on
    the product's SKU, so however many products the shop has), or ``None``."""
    _, found = call("GET", f"{base}/products?q={product_sku}&limit=100", token)
    for product in found["items"]:
        if product["sku"] == product_sku:
            for variant in product["variants"]:
                if variant["sku"] == sku:
                    return str(variant["id"])
    return None


def seed_tiers(base: str, token: str) -> int:
    """The demo tier ladder (BRONZE, the default, first); tiers that exist are left alone, and
    a set that already has a default keeps it."""
    _, existing = call("GET", f"{base}/tiers", token)
    have = {t["code"]: t for t in existing["items"]}
    has_default = any(t["is_default"] for t in have.values())
    for tier in DEMO_TIERS:
        if tier.code in have:
            continue
        body = tier.model_dump(mode="json")
        body["is_default"] = tier.is_default and not has_default
        status, answer = call("POST", f"{base}/tiers", token, body)
        if status == 409:  # a level another (custom) tier holds: leave the admin's set be
            print(f"skipped tier {tier.code}: {answer.get('detail')}", file=sys.stderr)
            continue
        if status != 201:
            print(f"could not create tier {tier.code}: {status} {answer}", file=sys.stderr)
            return 1
        has_default = has_default or body["is_default"]
        have[tier.code] = answer
    print(f"tiers: {', '.join(sorted(have, key=lambda code: have[code]['level']))}")
    return 0


def seed_stores(base: str, token: str) -> int:
    """The demo stores, matched by name (an admin's list includes inactive ones)."""
    have = create_missing(
        base, token, path="stores", listing="stores?limit=100", key="name", bodies=STORES
    )
    if have is None:
        return 1
    print(f"stores: {', '.join(sorted(have))}")
    return 0


def every_item(base: str, token: str, listing: str) -> list[dict[str, Any]]:
    """Every item of a list, page after page (``next_cursor``)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        after = (
            ""
            if cursor is None
            else ("&" if "?" in listing else "?") + urlencode({"cursor": cursor})
        )
        _, page = call("GET", f"{base}/{listing}{after}", token)
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def create_missing(
    base: str, token: str, *, path: str, listing: str, key: str, bodies: list[dict[str, Any]]
) -> dict[str, str] | None:
    """POST each body whose ``key`` is not listed yet (idempotent seeding).

    Returns ``{key value: id}`` of everything that exists afterwards, ``None`` after a failure
    (already reported on stderr).
    """
    have = {str(item[key]): str(item["id"]) for item in every_item(base, token, listing)}
    for body in bodies:
        if str(body[key]) in have:
            continue
        status, answer = call("POST", f"{base}/{path}", token, body)
        if status != 201:
            print(f"could not create {path} {body[key]}: {status} {answer}", file=sys.stderr)
            return None
        have[str(body[key])] = str(answer["id"])
    return have


#: Levels counted with fewer units than the rest, to show low stock of one variant:
#: (store name, variant SKU) → units on hand.
SCARCE = {("Celeste Madrid Sol", "CLO-TEE-XL"): 3}


def seed_stock(base: str, token: str) -> int:
    """Stock of every variant of every demo product in every store (a product without options
    has one variant, whose id is the product's), where the store has none counted yet."""
    _, stores = call("GET", f"{base}/stores?limit=100", token)
    _, products = call("GET", f"{base}/products?limit=100", token)
    counted = 0
    for store in stores["items"]:
        for product in products["items"]:
            for variant in product["variants"]:
                path = f"{base}/inventory/{store['id']}/{variant['id']}"
                status, level = call("GET", path, token)
                if status == 200 and level.get("on_hand", 0) > 0:
                    continue
                units = SCARCE.get((store["name"], variant["sku"]), 50)
                status, answer = call(
                    "PUT", path, token, {"on_hand": units, "low_stock_threshold": 5}
                )
                if status not in (200, 201):
                    print(f"could not count stock at {path}: {status} {answer}", file=sys.stderr)
                    return 1
                counted += 1
    print(f"stock: {counted} levels counted (50 units each, fewer where SCARCE says)")
    return 0


SHIPPING_METHODS = [
    {
        "code": "standard",
        "name": "Standard (2-4 days)",
        "price": 499,
        "currency": "EUR",
        "free_over": 5000,
        "countries": ["PT", "ES"],
    },
    {"code": "express", "name": "Express (next day)", "price": 1299, "currency": "EUR"},
]
#: Portugal's standard VAT, included in shelf prices; Spain's likewise.
TAX_RATES = {"PT": {"rate_bp": 2300, "inclusive": True}, "ES": {"rate_bp": 2100, "inclusive": True}}
DISCOUNT_CODES = [
    {"code": "WELCOME10", "kind": "percentage", "value": 10, "per_customer_limit": 1},
    {
        "code": "FLASH5",
        "kind": "fixed",
        "value": 500,
        "currency": "EUR",
        "usage_limit": 100,
        "min_subtotal": 2000,
    },
]


def seed_checkout(base: str, token: str) -> int:
    """Shipping methods, tax rates and discount codes; those that exist are left as they are."""
    for method in SHIPPING_METHODS:
        status, answer = call("POST", f"{base}/shipping/methods", token, method)
        if status not in (201, 409):
            print(f"could not create shipping method {method['code']}: {answer}", file=sys.stderr)
            return 1
    for country, rate in TAX_RATES.items():
        status, answer = call("GET", f"{base}/pricing/tax-rates/{country}", token)
        if status == 404:
            status, answer = call("PUT", f"{base}/pricing/tax-rates/{country}", token, rate)
        if status not in (200, 201):
            print(f"could not set the tax rate of {country}: {answer}", file=sys.stderr)
            return 1
    for code in DISCOUNT_CODES:
        status, answer = call("POST", f"{base}/pricing/codes", token, code)
        if status not in (201, 409):
            print(f"could not create discount code {code['code']}: {answer}", file=sys.stderr)
            return 1
    methods = ", ".join(str(m["code"]) for m in SHIPPING_METHODS)
    codes = ", ".join(str(c["code"]) for c in DISCOUNT_CODES)
    print(f"checkout: shipping {methods}; VAT {', '.join(TAX_RATES)}; codes {codes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
