"""Notifications in Chromium: a shopper's order is shipped by the shop and the bell's badge and
inbox change live (no reload, no polling); opening the notification marks it read; the email
toggle persists; push says why it is unavailable on a local stack."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS, api
from tests.browser.test_checkout_browser import add_from_the_shop, fill_address, sign_in
from tests.support.emulators import eventually
from tools.devauth import AuthEmulator, SignedIn

OPENAPI = Path(__file__).resolve().parents[2] / "functions/celeste_functions/openapi.json"
# Switches on by itself once the API serves the inbox.
needs_notifications = pytest.mark.skipif(
    "/me/notifications" not in json.loads(OPENAPI.read_text())["paths"],
    reason="needs the notifications API (GET /me/notifications)",
)


@pytest.fixture
def shopper(auth: AuthEmulator, seeded: None) -> SignedIn:
    """A new customer per test: a fresh, empty inbox."""
    return auth.sign_up(f"shopper-{uuid.uuid4().hex[:12]}@browser.test", "shopper-password")


def inbox(functions_url: str, user: SignedIn) -> dict[str, Any]:
    response = api(functions_url, "GET", "me/notifications?limit=50", user)
    assert response.status_code == 200, response.text
    return dict(response.json())


def inbox_with(functions_url: str, user: SignedIn, order_id: str, *types: str) -> dict[str, Any]:
    """The inbox once it holds the order's notifications of ``types`` (delivery is a trigger)."""

    def holds() -> dict[str, Any] | None:
        page = inbox(functions_url, user)
        have = {n["type"] for n in page["items"] if n["order_id"] == order_id}
        return page if set(types) <= have else None

    return eventually(holds, timeout_s=60, what=f"{', '.join(types)} in the inbox")


def move(functions_url: str, admin: SignedIn, order_id: str, status: str) -> None:
    """What the shop's staff do (tests/e2e: ``POST /orders/{id}/status`` as an admin)."""
    moved = api(functions_url, "POST", f"orders/{order_id}/status", admin, json={"status": status})
    assert moved.status_code == 200, moved.text


def badge(page: Page) -> int:
    return int(page.get_by_test_id("bell").get_attribute("data-unread") or 0)


@needs_notifications
def test_a_shipped_order_rings_the_bell_live_and_opening_it_marks_it_read(
    page: Page, functions_url: str, shopper: SignedIn, admin: SignedIn
) -> None:
    sign_in(page, shopper, "shopper-password")
    bell = page.get_by_test_id("bell")
    expect(bell).to_be_visible()
    expect(bell).to_have_attribute("aria-label", "Notifications, none unread")

    add_from_the_shop(page, "FRU-APPLE")
    page.goto("/#/checkout")
    fill_address(page)
    expect(page.get_by_test_id("total")).to_be_visible()
    page.get_by_test_id("place-order").click()
    expect(page).to_have_url(re.compile(r"#/orders/[\w-]+$"))
    order_id = page.url.rsplit("/", 1)[-1]
    # The emulator runs every trigger through one queue; late in a full run the events of the
    # earlier tests' orders can still be ahead of this order's reservation (CI saw > 60 s).
    expect(page.get_by_test_id("order-status")).to_have_text("confirmed", timeout=240_000)

    # The order's own notifications so far (placed, confirmed) reach the inbox and the badge.
    before = inbox_with(functions_url, shopper, order_id, "order.placed", "order.confirmed")[
        "unread_count"
    ]
    assert before >= 1
    expect(bell).to_have_attribute("data-unread", str(before))
    expect(page.get_by_test_id("bell-count")).to_have_text(str(before))

    # From here the page may not reload: every change arrives through the listeners.
    page.evaluate("window.__sameDocument = true")
    bell.click()
    panel = page.locator("#inbox-panel")
    expect(panel).to_be_visible()
    expect(bell).to_have_attribute("aria-expanded", "true")

    move(functions_url, admin, order_id, "processing")  # paid by the shop (e.g. a bank transfer)
    move(functions_url, admin, order_id, "shipped")
    shipped = panel.locator('[data-testid="notification"][data-type="order.shipped"]')
    expect(shipped).to_have_count(1, timeout=60_000)
    expect(shipped).to_contain_text(re.compile("shipped", re.IGNORECASE))
    expect(shipped).to_have_attribute("data-unread", "true")
    expect(shipped.locator("time")).to_have_text(re.compile(r"just now|minutes? ago"))
    # Newest first: the shipment heads the list.
    expect(panel.get_by_test_id("notification").first).to_have_attribute(
        "data-type", "order.shipped"
    )
    after = inbox_with(functions_url, shopper, order_id, "order.paid", "order.shipped")[
        "unread_count"
    ]
    assert after > before
    expect(bell).to_have_attribute("data-unread", str(after))
    expect(bell).to_have_attribute("aria-label", f"Notifications, {after} unread")
    page.screenshot(path=SCREENSHOTS / "notifications-inbox.png", full_page=True)

    # Opening it goes to the order and marks it read: the badge drops by one, live.
    shipped.locator(".note-open").click()
    expect(page).to_have_url(re.compile(rf"#/orders/{order_id}$"))
    expect(page.get_by_test_id("order-status")).to_have_text("shipped")
    expect(bell).to_have_attribute("data-unread", str(after - 1))
    read = next(n for n in inbox(functions_url, shopper)["items"] if n["type"] == "order.shipped")
    assert read["read_at"] is not None and read["order_id"] == order_id

    # Mark all read: the badge empties.
    bell.click()
    page.get_by_test_id("mark-all-read").click()
    expect(bell).to_have_attribute("data-unread", "0")
    expect(page.get_by_test_id("bell-count")).to_be_hidden()
    expect(panel.locator('[data-testid="notification"][data-unread="true"]')).to_have_count(0)
    assert inbox(functions_url, shopper)["unread_count"] == 0
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"

    # Keyboard: Escape closes the panel and gives the focus back to the bell; Enter opens it.
    expect(panel).to_be_visible()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(bell).to_be_focused()
    expect(bell).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("Enter")
    expect(panel).to_be_visible()
    expect(panel).to_be_focused()


@needs_notifications
def test_the_email_toggle_persists_and_push_says_why_it_is_unavailable_here(
    page: Page, functions_url: str, shopper: SignedIn
) -> None:
    sign_in(page, shopper, "shopper-password")
    page.goto("/#/settings")
    toggle = page.get_by_test_id("email-toggle")
    expect(toggle).to_be_checked()  # email is on by default
    expect(page.get_by_test_id("push-unavailable")).to_contain_text(
        "no FCM web registration offline"
    )
    expect(page.get_by_test_id("push-toggle")).to_have_count(0)

    toggle.uncheck()
    expect(page.get_by_test_id("email-toggle-status")).to_have_text("Saved")
    assert api(functions_url, "GET", "me", shopper).json()["notifications"]["email"] is False

    page.reload()
    expect(page.get_by_test_id("email-toggle")).not_to_be_checked()
    expect(page.get_by_test_id("email-toggle")).to_be_enabled()
    page.screenshot(path=SCREENSHOTS / "notification-settings.png", full_page=True)


@needs_notifications
def test_a_guest_has_an_inbox_but_no_email_to_turn_on(page: Page, seeded: None) -> None:
    page.goto("/#/signin")
    page.get_by_test_id("guest").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text("Guest")
    bell = page.get_by_test_id("bell")
    expect(bell).to_have_attribute("aria-label", "Notifications, none unread")
    bell.click()
    expect(page.get_by_test_id("inbox-note")).to_have_text("No notifications yet.")
    page.goto("/#/settings")
    expect(page.get_by_test_id("email-toggle")).to_be_disabled()
    expect(page.get_by_test_id("notification-settings")).to_contain_text("Guests have no email")
    # Signing out stops the inbox: the bell goes with the session.
    page.get_by_role("button", name="Sign out").click()
    expect(bell).to_be_hidden()
