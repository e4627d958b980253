"""The storefront in Chromium: browsing as a guest and as a GOLD customer, priced per tier."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, SCREENSHOTS, api, euros, product
from tools.devauth import AuthEmulator

SKU = "FRU-APPLE"


def test_a_guest_sees_default_tier_prices(page: Page, functions_url: str) -> None:
    listed = product(functions_url, SKU)
    pricing = listed["pricing"]
    page.goto("/")
    page.get_by_role("link", name="Sign in").click()
    page.get_by_test_id("guest").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text("Guest")

    card = page.locator(f'[data-testid="product-card"][data-sku="{SKU}"]')
    expect(card.get_by_test_id("final-price")).to_have_text(euros(pricing["base_price"]))
    expect(card.get_by_test_id("base-price")).to_have_count(0)  # the default tier pays base
    expect(page.get_by_test_id("category-tree")).to_contain_text("Fruit")

    # The product page quotes larger quantities: the seed's fruit-by-the-box rule starts at 10.
    card.get_by_role("link").first.click()
    breaks = page.get_by_test_id("quantity-breaks")
    expect(breaks).to_be_visible()
    unit_prices = breaks.get_by_test_id("break-unit-price")
    expect(unit_prices.first).to_have_text(euros(pricing["base_price"]))
    boxed = api(functions_url, "GET", f"products/{listed['id']}?quantity=10").json()["pricing"]
    assert boxed["final_price"] < pricing["base_price"]
    expect(unit_prices.nth(2)).to_have_text(euros(boxed["final_price"]))

    # A guest has a cart: add the product and see it there.
    page.get_by_test_id("add-to-cart").click()
    expect(page.get_by_test_id("added")).to_be_visible()
    page.get_by_test_id("nav-cart").click()
    expect(page.locator(f'[data-testid="cart-line"][data-sku="{SKU}"]')).to_be_visible()


def test_a_gold_customer_signs_in_and_sees_the_gold_price(
    page: Page, functions_url: str, auth: AuthEmulator
) -> None:
    gold = auth.sign_in("gold@celeste.test", PASSWORD)
    assert api(functions_url, "GET", "me", gold).json()["tier"] == "GOLD"
    pricing = product(functions_url, SKU, gold)["pricing"]
    assert pricing["tier"] == "GOLD" and pricing["final_price"] < pricing["base_price"]

    page.goto("/#/signin")
    form = page.get_by_test_id("sign-in-form")
    form.get_by_label("Email").fill("gold@celeste.test")
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text("gold@celeste.test")

    card = page.locator(f'[data-testid="product-card"][data-sku="{SKU}"]')
    expect(card.get_by_test_id("final-price")).to_have_text(euros(pricing["final_price"]))
    expect(card.get_by_test_id("base-price")).to_have_text(euros(pricing["base_price"]))
    expect(card).to_contain_text("Gold price")
    page.screenshot(path=SCREENSHOTS / "storefront-gold.png")

    page.get_by_role("link", name="My tier").click()
    expect(page.get_by_test_id("tier-current")).to_have_text("Gold")
    expect(page.get_by_test_id("tier-next")).to_have_text("Platinum")
    expect(page.get_by_role("progressbar").first).to_be_visible()
    # Spend progress is shown in the currency the requirement counts (GET /me/tier says which).
    standing = api(functions_url, "GET", "me/tier", gold).json()
    spend = next(p for p in standing["progress"] if p["name"] == "min_lifetime_spend")
    assert spend["currency"] == "EUR"
    spend_row = page.get_by_test_id("tier-progress").filter(has_text="Lifetime spend")
    expect(spend_row).to_contain_text(f"of {euros(spend['required'])}")


def test_a_new_customer_signs_up_and_starts_on_the_default_tier(
    page: Page, functions_url: str
) -> None:
    email = f"new-{uuid.uuid4().hex[:12]}@browser.test"
    page.goto("/#/signin")
    form = page.get_by_test_id("sign-up-form")
    form.get_by_label("Your name").fill("Nova Cliente")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill("new-password")
    form.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text(email)

    tiers = api(functions_url, "GET", "tiers").json()["items"]
    default = next(t for t in tiers if t["is_default"])
    above = min((t for t in tiers if t["level"] > default["level"]), key=lambda t: t["level"])
    page.get_by_role("link", name="My tier").click()
    expect(page.get_by_test_id("tier-current")).to_have_text(default["name"])
    expect(page.get_by_test_id("tier-next")).to_have_text(above["name"])
    bars = page.get_by_role("progressbar")
    expect(bars.first).to_have_attribute("aria-valuenow", "0")

    # Signing up twice with the same email is refused with the API's reason, not a blank page.
    page.get_by_role("button", name="Sign out").click()
    page.goto("/#/signin")
    form.get_by_label("Your name").fill("Nova Cliente")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill("new-password")
    form.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("problem-detail")).to_be_visible()
    expect(page.get_by_test_id("signed-in-as")).to_have_count(0)
