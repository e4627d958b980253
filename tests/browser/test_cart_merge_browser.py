"""A guest keeps their cart in Chromium: signing up links the guest's own account (same uid),
signing in to an existing account merges the guest's cart into it (the larger quantity of a
product in both)."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from tests.browser.conftest import api, product
from tests.browser.test_checkout_browser import add_from_the_shop, sign_in
from tools.devauth import AuthEmulator

PASSWORD = "buyer-password"


def continue_as_guest(page: Page) -> None:
    page.goto("/#/signin")
    page.get_by_test_id("guest").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text("Guest")


def cart_quantities(page: Page) -> dict[str, str]:
    """The cart page's lines: SKU → quantity shown."""
    page.get_by_test_id("nav-cart").click()
    lines = page.get_by_test_id("cart-line")
    expect(lines.first).to_be_visible()
    return {
        str(line.get_attribute("data-sku")): line.locator("input").input_value()
        for line in lines.all()
    }


def test_a_guests_cart_survives_signing_in_to_an_existing_account(
    page: Page, functions_url: str, auth: AuthEmulator
) -> None:
    account = auth.sign_up(f"back-{uuid.uuid4().hex[:12]}@browser.test", PASSWORD)
    apple, bread = product(functions_url, "FRU-APPLE"), product(functions_url, "BAK-SOURDOUGH")
    for item, quantity in ((apple, 3), (bread, 1)):
        saved = api(
            functions_url,
            "PUT",
            f"me/cart/items/{item['id']}",
            account,
            json={"quantity": quantity},
        )
        assert saved.status_code == 201, saved.text

    continue_as_guest(page)
    add_from_the_shop(page, "FRU-APPLE")
    add_from_the_shop(page, "FRU-BANANA")
    sign_in(page, account, PASSWORD)
    expect(page).not_to_have_url(re.compile(r"#/signin$"))  # merged, then sent on

    expect(page.locator("#cart-count")).to_have_text("5")  # 3 apples, bread, bananas
    shown = cart_quantities(page)
    assert shown == {"FRU-APPLE": "3", "BAK-SOURDOUGH": "1", "FRU-BANANA": "1"}, shown
    stored = api(functions_url, "GET", "me/cart", account).json()["lines"]
    assert sorted((line["sku"], line["quantity"]) for line in stored) == [
        ("BAK-SOURDOUGH", 1),
        ("FRU-APPLE", 3),  # in both carts: the larger quantity, not the sum
        ("FRU-BANANA", 1),
    ]


def test_a_guests_cart_survives_signing_up(
    page: Page, functions_url: str, auth: AuthEmulator
) -> None:
    continue_as_guest(page)
    add_from_the_shop(page, "FRU-APPLE")
    add_from_the_shop(page, "BAK-CROISSANT")

    email = f"guest-{uuid.uuid4().hex[:12]}@browser.test"
    page.goto("/#/signin")
    form = page.get_by_test_id("sign-up-form")
    form.get_by_label("Your name").fill("Gina Guest")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text(email)

    assert cart_quantities(page) == {"FRU-APPLE": "1", "BAK-CROISSANT": "1"}
    # The new account is the guest's own: signing in with it elsewhere finds the cart and the
    # profile registration makes.
    again = auth.sign_in(email, PASSWORD)
    stored = api(functions_url, "GET", "me/cart", again).json()["lines"]
    assert sorted(line["sku"] for line in stored) == ["BAK-CROISSANT", "FRU-APPLE"]
    me = api(functions_url, "GET", "me", again).json()
    assert (me["email"], me["display_name"], me["role"]) == (email, "Gina Guest", "customer")
