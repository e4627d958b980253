"""Variants in Chromium: a product with options listed at its price range, its page's pickers (the
price following the choice, an unavailable combination flagged and not addable), two variants of
it as two cart lines, and both bought: a confirmed order naming each variant."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS, api, euros
from tests.browser.test_checkout_browser import fill_address, first_store, needs_checkout, sign_in
from tools.devauth import AuthEmulator, SignedIn

#: (size, colour, base price or None for the product's, active, units at the first store). Small /
#: Red is not made at all, Large / Red is off sale, Large / Blue is sold out.
VARIANTS = [
    ("S", "Blue", None, True, 5),
    ("M", "Blue", None, True, 5),
    ("M", "Red", 1800, True, 5),
    ("L", "Blue", 1800, True, 0),
    ("L", "Red", 1800, False, 0),
]
BASE_PRICE = 1500
#: The en dash of a price range and the times sign of a line, as the app writes them.
DASH, TIMES = "\u2013", "\u00d7"


@dataclass(frozen=True)
class Tee:
    """The product the tests made: its id, name and category, and its variants by option values."""

    id: str
    name: str
    category_id: str
    variants: dict[tuple[str, str], dict[str, Any]]

    def variant(self, size: str, colour: str) -> dict[str, Any]:
        return self.variants[(size, colour)]


@pytest.fixture(scope="module")
def tee(functions_url: str, admin: SignedIn) -> Tee:
    """A tee in sizes and colours, alone in a category of its own, stocked at the first store."""
    tag = uuid.uuid4().hex[:8]
    category = api(
        functions_url,
        "POST",
        "categories",
        admin,
        json={"slug": f"tees-{tag}", "name": f"Tees {tag}", "parent_id": None},
    )
    assert category.status_code == 201, category.text
    name = f"Tee {tag}"
    created = api(
        functions_url,
        "POST",
        "products",
        admin,
        json={
            "sku": f"TEE-{tag}",
            "name": name,
            "category_id": category.json()["id"],
            "base_price": BASE_PRICE,
            "currency": "EUR",
            "options": [
                {"name": "Size", "values": ["S", "M", "L"]},
                {"name": "Colour", "values": ["Blue", "Red"]},
            ],
            "variants": [
                {
                    "sku": f"TEE-{tag}-{size}-{colour}".upper(),
                    "options": {"Size": size, "Colour": colour},
                    "active": active,
                    **({} if price is None else {"base_price": price}),
                }
                for size, colour, price, active, _ in VARIANTS
            ],
        },
    )
    assert created.status_code == 201, created.text
    product = created.json()
    by_options = {(v["options"]["Size"], v["options"]["Colour"]): v for v in product["variants"]}
    store = first_store(functions_url)
    for size, colour, _, _, units in VARIANTS:
        variant_id = by_options[(size, colour)]["id"]
        stocked = api(
            functions_url,
            "PUT",
            f"inventory/{store}/{variant_id}",
            admin,
            json={"on_hand": units, "low_stock_threshold": 0},
        )
        assert stocked.status_code in (200, 201), stocked.text
    return Tee(product["id"], name, category.json()["id"], by_options)


@pytest.fixture
def buyer(auth: AuthEmulator, seeded: None) -> SignedIn:
    return auth.sign_up(f"variants-{uuid.uuid4().hex[:12]}@browser.test", "buyer-password")


def priced(functions_url: str, tee: Tee, user: SignedIn | None = None) -> dict[str, Any]:
    """The tee as the API prices it for ``user`` at the first store."""
    path = f"products/{tee.id}?store_id={first_store(functions_url)}"
    read: dict[str, Any] = api(functions_url, "GET", path, user).json()
    return read


def choose(page: Page, size: str, colour: str) -> None:
    pickers = page.get_by_test_id("option-pickers")
    pickers.get_by_label("Size").select_option(size)
    pickers.get_by_label("Colour").select_option(colour)


def test_the_price_follows_the_options_and_an_unavailable_combination_is_not_addable(
    page: Page, functions_url: str, tee: Tee
) -> None:
    read = priced(functions_url, tee)
    final = {
        (v["options"]["Size"], v["options"]["Colour"]): v["pricing"]["final_price"]
        for v in read["variants"]
    }
    assert read["price_range"]["min"] != read["price_range"]["max"]

    # Listed at its range, with a link to choose rather than a button that cannot know which.
    page.goto(f"/#/c/{tee.category_id}")
    card = page.get_by_test_id("product-card").filter(has_text=tee.name)
    expect(card.get_by_test_id("price-range")).to_have_text(
        f"{euros(read['price_range']['min'])} {DASH} {euros(read['price_range']['max'])}"
    )
    expect(card.get_by_test_id("add-to-cart")).to_have_count(0)
    card.get_by_test_id("choose-options").click()

    # The first variant on sale and in stock is chosen to start with.
    product_page = page.get_by_test_id("product-page")
    price = product_page.get_by_test_id("variant-price").get_by_test_id("final-price")
    add = product_page.get_by_test_id("add-to-cart")
    status = product_page.get_by_test_id("variant-status")
    expect(price).to_have_text(euros(final[("S", "Blue")]))
    expect(status).to_have_text("Available at this store")
    expect(add).to_be_enabled()

    choose(page, "M", "Red")
    expect(price).to_have_text(euros(final[("M", "Red")]))
    expect(product_page.get_by_test_id("variant-sku")).to_have_text(
        f"SKU {tee.variant('M', 'Red')['sku']}"
    )
    expect(product_page.get_by_test_id("break-unit-price").first).to_have_text(
        euros(final[("M", "Red")])
    )
    expect(add).to_be_enabled()

    # Large: Blue is sold out at this store and Red is off sale; both say so in the picker.
    page.get_by_test_id("option-pickers").get_by_label("Size").select_option("L")
    colour = page.get_by_test_id("option-pickers").get_by_label("Colour")
    expect(colour.locator("option[value=Red]")).to_have_text("Red (unavailable)")
    expect(colour.locator("option[value=Blue]")).to_have_text("Blue (out of stock)")
    expect(status).to_have_text("Not available in this combination")
    expect(add).to_be_disabled()
    colour.select_option("Blue")
    expect(status).to_have_text("Out of stock at this store")
    expect(add).to_be_disabled()
    # Small / Red was never made.
    choose(page, "S", "Red")
    expect(status).to_have_text("Not available in this combination")
    expect(add).to_be_disabled()
    expect(product_page.get_by_test_id("variant-price")).to_have_text("—")
    page.screenshot(path=SCREENSHOTS / "variant-unavailable.png", full_page=True)

    choose(page, "M", "Blue")
    expect(price).to_have_text(euros(final[("M", "Blue")]))
    expect(add).to_be_enabled()


def add_variant(page: Page, size: str, colour: str) -> None:
    choose(page, size, colour)
    page.get_by_test_id("product-page").get_by_test_id("add-to-cart").click()
    expect(page.get_by_test_id("added")).to_be_visible()
    page.get_by_test_id("added").evaluate("node => node.remove()")


def test_two_variants_of_one_product_are_two_cart_lines(
    page: Page, functions_url: str, tee: Tee, buyer: SignedIn
) -> None:
    sign_in(page, buyer)
    page.goto(f"/#/p/{tee.id}")
    add_variant(page, "S", "Blue")
    add_variant(page, "M", "Red")
    add_variant(page, "M", "Red")  # the same variant again: its line's quantity goes up

    expect(page.locator("#cart-count")).to_have_text("3")
    page.get_by_test_id("nav-cart").click()
    lines = page.get_by_test_id("cart-line")
    expect(lines).to_have_count(2)
    small, medium = tee.variant("S", "Blue"), tee.variant("M", "Red")
    for variant, label, quantity in ((small, "S / Blue", "1"), (medium, "M / Red", "2")):
        line = page.locator(f'[data-testid="cart-line"][data-variant-id="{variant["id"]}"]')
        expect(line).to_have_attribute("data-sku", variant["sku"])
        expect(line.get_by_test_id("line-name")).to_have_text(f"{tee.name} — {label}")
        expect(line.locator("input")).to_have_value(quantity)
    stored = api(functions_url, "GET", "me/cart", buyer).json()["lines"]
    assert sorted((line["variant_id"], line["quantity"]) for line in stored) == sorted(
        [(small["id"], 1), (medium["id"], 2)]
    )


@needs_checkout
def test_two_variants_bought_make_a_confirmed_order_naming_each(
    page: Page, functions_url: str, tee: Tee, buyer: SignedIn
) -> None:
    small, medium = tee.variant("S", "Blue"), tee.variant("M", "Blue")
    for variant in (small, medium):
        put = api(
            functions_url, "PUT", f"me/cart/items/{variant['id']}", buyer, json={"quantity": 1}
        )
        assert put.status_code == 201, put.text

    sign_in(page, buyer)
    page.goto("/#/checkout")
    fill_address(page)
    totals = page.get_by_test_id("totals-box")
    expect(totals.get_by_test_id("total")).to_be_visible()
    expect(totals).to_contain_text(f"1 {TIMES} {tee.name} — S / Blue")
    expect(totals).to_contain_text(f"1 {TIMES} {tee.name} — M / Blue")
    page.get_by_test_id("place-order").click()
    expect(page).to_have_url(re.compile(r"#/orders/[\w-]+$"))
    order_id = page.url.rsplit("/", 1)[-1]
    expect(page.get_by_test_id("order-status")).to_have_text("confirmed", timeout=60_000)

    order = api(functions_url, "GET", f"orders/{order_id}", buyer).json()
    frozen = sorted((line["variant_id"], line["sku"], line["options"]) for line in order["lines"])
    assert frozen == sorted((v["id"], v["sku"], v["options"]) for v in (small, medium)), order[
        "lines"
    ]
    expect(page.get_by_test_id("order-line")).to_have_count(2)
    for variant, label in ((small, "S / Blue"), (medium, "M / Blue")):
        line = page.locator(f'[data-testid="order-line"][data-sku="{variant["sku"]}"]')
        expect(line).to_contain_text(f"1 {TIMES} {tee.name} — {label}")
    expect(page.get_by_test_id("order-total")).to_have_text(euros(order["total"]))
    page.screenshot(path=SCREENSHOTS / "variants-order.png", full_page=True)
