"""The ``me`` function: the signed-in caller's own profile, tier standing, cart and wishlist."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from celeste.accounts.profiles import Identity, ProfilePatch, ProfileView, Role
from celeste.accounts.tier_standing import TierStanding
from celeste.cart.lines import (
    CartEntry,
    CartItemRequest,
    CartLine,
    CartMergeRequest,
    PricedCart,
    WishlistEntry,
)
from celeste.kernel.errors import ValidationFailed
from celeste.notifications.inbox import DeviceRequest, Notification, NotificationsPage
from celeste_functions.composition import services
from celeste_functions.http.auth import Caller, authenticate_guest
from celeste_functions.http.reading import read_body
from celeste_functions.http.router import Reply, RequestContext, Router
from celeste_functions.resources.common import ListParams, page_body, profile_reply
from celeste_functions.resources.products import pricing_view

router = Router("me")


class _NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def identity_of(caller: Caller) -> Identity:
    """The caller as the account service knows users (role from the token's claim)."""
    role: Role = "admin" if caller.is_admin else "customer"
    return Identity(uid=caller.uid, email=caller.email, display_name=caller.name, role=role)


@router.get("/", query=_NoParams, response=ProfileView, auth="user")
def get_me(caller: Caller) -> Reply:
    """Signed in: the caller's profile, made with the default tier on the first call."""
    return profile_reply(services.get().accounts.me(identity_of(caller)))


@router.patch("/", body=ProfilePatch, response=ProfileView, auth="user", if_match=True)
def update_me(caller: Caller, body: ProfilePatch, if_match: str | None) -> Reply:
    """Signed in: change ``display_name``, ``phone``, ``addresses``, ``notifications``
    (``{email, push}``, either alone: the inbox is always on); anything else → 400."""
    updated = services.get().accounts.update_me(
        identity_of(caller), body, expected_version=if_match
    )
    return profile_reply(updated)


@router.get("/tier", query=_NoParams, response=TierStanding, auth="user")
def get_my_tier(caller: Caller) -> Reply:
    """Signed in: the caller's tier, the next one up and per-requirement progress towards it."""
    return Reply(services.get().tier_standing.standing(identity_of(caller)))


# --- cart -------------------------------------------------------------------------------------


def cart_line_view(entry: CartEntry) -> dict[str, Any]:
    """One cart line: its product's name, its variant's SKU and option values (a product
    without options: the product's SKU, no options), and its pricing unless ``unavailable``."""
    line, product, variant, pricing = entry.line, entry.product, entry.variant, entry.pricing
    return {
        "product_id": line.product_id,
        "variant_id": line.variant_id,
        "quantity": line.quantity,
        "name": product.name if product else None,
        "sku": variant.sku if variant else None,
        "options": entry.options,
        "image_url": product.image_url if product else None,
        "unavailable": entry.unavailable is not None,
        "unavailable_reason": entry.unavailable,
        "pricing": pricing_view(pricing) if pricing else None,
        "line_total": pricing.line_total if pricing else None,
        "added_at": line.added_at,
        "updated_at": line.updated_at,
    }


def cart_view(cart: PricedCart) -> dict[str, Any]:
    """The priced cart: lines (the earliest added first) and totals of the available ones."""
    return {
        "lines": [cart_line_view(entry) for entry in cart.entries],
        "subtotal": cart.subtotal,
        "discount_total": cart.discount_total,
        "total": cart.total,
        "currency": cart.currency,
        "tier": cart.tier,
    }


@router.get("/cart", query=_NoParams, auth="user")
def get_cart(caller: Caller) -> Reply:
    """Signed in: the caller's cart priced for their tier; unavailable lines are flagged and
    left out of the totals."""
    return Reply(cart_view(services.get().cart.priced(caller.uid)))


@router.put("/cart/items/{variant_id}", body=CartItemRequest, response=CartLine, auth="user")
def put_cart_item(caller: Caller, variant_id: str, body: CartItemRequest) -> Reply:
    """Signed in: hold ``quantity`` (1..1000) of an active variant → 201 with the new line, 200
    when the line existed. A product without options is named by its own id (its one
    variant's); the id of a product with several variants → 400 naming ``variant_id``; an
    unknown or inactive product or variant → 404, a full cart → 409."""
    line, created = services.get().cart.set_quantity(caller.uid, variant_id, body.quantity)
    return Reply(line, status=201 if created else 200)


@router.delete("/cart/items/{variant_id}", status=204, auth="user")
def delete_cart_item(caller: Caller, variant_id: str) -> Reply:
    """Signed in: take the variant out of the cart → 204 (also when it was not in it)."""
    services.get().cart.remove(caller.uid, variant_id)
    return Reply(status=204)


@router.delete("/cart", status=204, auth="user")
def clear_cart(caller: Caller) -> Reply:
    """Signed in: empty the cart → 204."""
    services.get().cart.clear(caller.uid)
    return Reply(status=204)


@router.post("/cart/merge", body=CartMergeRequest, auth="user")
def merge_cart(caller: Caller, body: CartMergeRequest) -> Reply:
    """Signed in: move a guest's cart and wishlist into the caller's, proved by the guest's
    anonymous ID token in ``guest_token`` → 200 with what moved and the caller's priced cart.
    A variant in both carts keeps the larger quantity; lines beyond the cart's 100 (entries
    beyond the wishlist's 500) are dropped and named. The guest's are deleted in the same
    commit, so a retry changes nothing. A token that is not a valid ID token, or is the
    caller's own → 400; one of an account that is not an anonymous guest → 403."""
    guest_uid = authenticate_guest(body.guest_token)
    merged = services.get().cart_merge.merge(caller.uid, guest_uid)
    cart = services.get().cart.priced(caller.uid)
    return Reply({**merged.model_dump(), "cart": cart_view(cart)})


# --- wishlist ---------------------------------------------------------------------------------


@router.get("/wishlist", query=ListParams, auth="user")
def get_wishlist(caller: Caller, query: ListParams) -> Reply:
    """Signed in: the caller's wishlist, newest first, each with its product's summary and its
    variant's SKU and option values."""
    page = services.get().wishlist.page(caller.uid, limit=query.limit, cursor=query.cursor)
    return Reply(page_body(page))


@router.put("/wishlist/{variant_id}", response=WishlistEntry, auth="user")
def put_wishlist_item(caller: Caller, variant_id: str) -> Reply:
    """Signed in: keep an active variant → 201 the first time, 200 after (no body needed). A
    product without options is named by its own id; the id of a product with several variants
    → 400 naming ``variant_id``; an unknown or inactive product or variant → 404, a full
    wishlist → 409."""
    entry, created = services.get().wishlist.add(caller.uid, variant_id)
    return Reply(entry, status=201 if created else 200)


@router.delete("/wishlist/{variant_id}", status=204, auth="user")
def delete_wishlist_item(caller: Caller, variant_id: str) -> Reply:
    """Signed in: forget the variant → 204 (also when it was not on the wishlist)."""
    services.get().wishlist.remove(caller.uid, variant_id)
    return Reply(status=204)


# --- notifications ----------------------------------------------------------------------------


class NotificationListParams(ListParams):
    """``?limit=&cursor=`` and ``unread=true`` (only entries not read yet)."""

    unread: bool = False


@router.get("/notifications", query=NotificationListParams, response=NotificationsPage, auth="user")
def get_notifications(caller: Caller, query: NotificationListParams) -> Reply:
    """Signed in (guests too): the caller's inbox, newest first, with ``unread_count`` (all
    unread entries, whatever the page). Never cached: it changes with every event."""
    found = services.get().notifications.page(
        caller.uid, unread=query.unread, limit=query.limit, cursor=query.cursor
    )
    return Reply(found.model_dump(mode="json"))


@router.post("/notifications/read-all", auth="user")
def read_all_notifications(caller: Caller) -> Reply:
    """Signed in: mark every unread entry read → ``{updated: n}``."""
    return Reply({"updated": services.get().notifications.mark_all_read(caller.uid)})


@router.post("/notifications/{notification_id}/read", response=Notification, auth="user")
def read_notification(caller: Caller, notification_id: str) -> Reply:
    """Signed in: mark one of the caller's entries read → the entry with ``read_at`` (again:
    unchanged); another user's or an unknown id → 404."""
    return Reply(services.get().notifications.mark_read(caller.uid, notification_id))


#: What a push registration token may look like (FCM's: letters, digits, ``-_:.``).
_TOKEN = re.compile(r"^[A-Za-z0-9_:.-]{1,4096}$")


def _device_token(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise ValidationFailed.on("token", "not a push registration token")
    return value


_TOKEN_PATH = {"token": _device_token}


@router.put("/devices/{token}", status=204, auth="user", converters=_TOKEN_PATH)
def put_device(caller: Caller, token: str, ctx: RequestContext) -> Reply:
    """Signed in: push this device's registration token to the caller (a body
    ``{"platform": "web"|"android"|"ios"}`` is optional) → 204. Tokens are kept server-side
    only; one FCM reports unregistered is dropped."""
    raw = ctx.request.get_data(cache=True)
    body = read_body(ctx.request, DeviceRequest) if raw.strip() else DeviceRequest()
    services.get().notifications.register_device(caller.uid, token, platform=body.platform)
    return Reply(status=204)


@router.delete("/devices/{token}", status=204, auth="user", converters=_TOKEN_PATH)
def delete_device(caller: Caller, token: str) -> Reply:
    """Signed in: stop pushing to this token → 204 (also when it was not registered)."""
    services.get().notifications.forget_device(caller.uid, token)
    return Reply(status=204)
