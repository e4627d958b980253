"""A guest keeps their cart (security finding 11): an anonymous guest's cart and wishlist merged
into the account they sign in to (``POST /me/cart/merge``, both identities proved by real
Auth-emulator tokens), and a guest who signs up keeping their uid (``POST /auth/register/linked``
after linking an email and password)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Api, Shop, problem
from tools.devauth import AuthEmulator, SignedIn

pytestmark = pytest.mark.e2e


@pytest.fixture
def products(shop: Callable[..., Shop]) -> dict[str, str]:
    return shop({"apple": 10, "pear": 10, "bread": 10, "soap": 10}).products


def _email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@e2e.test"


def _put(api: Api, user: SignedIn, product_id: str, quantity: int) -> None:
    response = api.request(
        "PUT", "me", f"/cart/items/{product_id}", user=user, json={"quantity": quantity}
    )
    assert response.status_code in (200, 201), response.text


def _keep(api: Api, user: SignedIn, product_id: str) -> None:
    response = api.request("PUT", "me", f"/wishlist/{product_id}", user=user)
    assert response.status_code in (200, 201), response.text


def _cart(api: Api, user: SignedIn) -> dict[str, int]:
    response = api.request("GET", "me", "/cart", user=user)
    assert response.status_code == 200, response.text
    return {line["product_id"]: line["quantity"] for line in response.json()["lines"]}


def _wishlist(api: Api, user: SignedIn) -> set[str]:
    response = api.request("GET", "me", "/wishlist", user=user)
    assert response.status_code == 200, response.text
    return {item["product_id"] for item in response.json()["items"]}


def _merge(api: Api, user: SignedIn | None, guest_token: str) -> requests.Response:
    return api.request("POST", "me", "/cart/merge", user=user, json={"guest_token": guest_token})


def _forged(token: str, **claims: Any) -> str:
    """``token`` with its payload's claims changed (and so its signature no longer matching)."""
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(claims)
    encoded = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"


def test_signing_in_merges_the_guests_cart_and_wishlist_once(
    api: Api, auth: AuthEmulator, products: dict[str, str]
) -> None:
    apple, pear, bread, soap = (products[n] for n in ("apple", "pear", "bread", "soap"))
    guest = auth.sign_in_anonymously()
    _put(api, guest, apple, 5)
    _put(api, guest, pear, 2)
    _put(api, guest, bread, 1)
    _keep(api, guest, apple)
    _keep(api, guest, soap)
    account = auth.sign_up(_email("merge"), "password-merge")
    _put(api, account, apple, 3)
    _put(api, account, bread, 4)
    _keep(api, account, apple)

    merged = _merge(api, account, guest.id_token)
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert {k: body[k] for k in ("lines_added", "lines_raised", "lines_kept")} == {
        "lines_added": 1,  # pear
        "lines_raised": 1,  # apple: the larger quantity, 5, not 3 + 5
        "lines_kept": 1,  # bread: the account's 4 is the larger
    }
    assert (body["wishlist_added"], body["cart_dropped"], body["wishlist_dropped"]) == (1, [], [])
    assert {line["product_id"]: line["quantity"] for line in body["cart"]["lines"]} == {
        apple: 5,
        bread: 4,
        pear: 2,
    }
    assert body["cart"]["total"] == 11 * 1_000

    assert _cart(api, account) == {apple: 5, bread: 4, pear: 2}
    assert _wishlist(api, account) == {apple, soap}
    assert _cart(api, guest) == {} and _wishlist(api, guest) == set()

    # A retried merge (the client lost the answer) changes nothing.
    again = _merge(api, account, guest.id_token)
    assert again.status_code == 200, again.text
    assert {k: v for k, v in again.json().items() if k != "cart"} == {
        "lines_added": 0,
        "lines_raised": 0,
        "lines_kept": 0,
        "wishlist_added": 0,
        "cart_dropped": [],
        "wishlist_dropped": [],
    }
    assert _cart(api, account) == {apple: 5, bread: 4, pear: 2}
    assert _wishlist(api, account) == {apple, soap}


def test_a_merge_needs_a_real_guests_token(
    api: Api, auth: AuthEmulator, products: dict[str, str]
) -> None:
    apple = products["apple"]
    account = auth.sign_up(_email("merge-to"), "password-merge")
    other = auth.sign_up(_email("merge-other"), "password-merge")
    guest = auth.sign_in_anonymously()
    _put(api, account, apple, 1)
    _put(api, other, apple, 7)
    _put(api, guest, apple, 9)

    # Not a token at all, or one naming an account that does not exist: 400 naming the field.
    for token in ("not-a-token", _forged(guest.id_token, user_id="nobody", sub="nobody")):
        body = problem(_merge(api, account, token), 400)
        assert [e["field"] for e in body["errors"]] == ["guest_token"], body  # type: ignore[union-attr]
    # A real customer's token, or one forged to claim it is anonymous: not a guest's, 403.
    problem(_merge(api, account, other.id_token), 403)
    claims = {"firebase": {"sign_in_provider": "anonymous", "identities": {}}}
    problem(_merge(api, account, _forged(other.id_token, **claims)), 403)
    # The caller's own token (an account's is no guest's; a guest's own is nothing to merge),
    # and no signed-in caller at all.
    problem(_merge(api, account, account.id_token), 403)
    own = problem(_merge(api, guest, guest.id_token), 400)
    assert [e["field"] for e in own["errors"]] == ["guest_token"]  # type: ignore[union-attr]
    problem(_merge(api, None, guest.id_token), 401)
    # A guest who signed up since is an account: their old guest token no longer merges.
    linked = auth.link_email(guest, _email("merge-linked"), "password-linked")
    assert linked.uid == guest.uid
    problem(_merge(api, account, guest.id_token), 403)

    assert _cart(api, account) == {apple: 1}
    assert _cart(api, other) == {apple: 7}
    assert _cart(api, linked) == {apple: 9}


def test_signing_up_as_a_guest_keeps_the_uid_and_makes_the_profile(
    api: Api, auth: AuthEmulator, products: dict[str, str]
) -> None:
    guest = auth.sign_in_anonymously()
    _put(api, guest, products["pear"], 3)
    _keep(api, guest, products["soap"])
    assert api.request("GET", "me", user=guest).json()["email"] is None  # a guest's profile
    # Still anonymous: nothing to register yet.
    early = api.request(
        "POST", "auth", "/register/linked", user=guest, json={"display_name": "Rita"}
    )
    problem(early, 409)

    email = _email("linked")
    linked = auth.link_email(guest, email, "password-linked")
    made = api.request(
        "POST", "auth", "/register/linked", user=linked, json={"display_name": "Rita"}
    )
    assert made.status_code == 200, made.text  # the guest's profile, now the account's
    assert (made.json()["uid"], made.json()["email"], made.json()["display_name"]) == (
        guest.uid,
        email,
        "Rita",
    )
    # Signing in with the new email and password is the same account, cart and all.
    again = auth.sign_in(email, "password-linked")
    assert again.uid == guest.uid
    assert _cart(api, again) == {products["pear"]: 3}
    assert _wishlist(api, again) == {products["soap"]}
    me = api.request("GET", "me", user=again).json()
    assert (me["email"], me["display_name"], me["role"]) == (email, "Rita", "customer")
    # Bad input is a clear 400; a guest who never called GET /me gets a new profile (201).
    problem(api.request("POST", "auth", "/register/linked", user=again, json={}), 400)
    fresh = auth.link_email(auth.sign_in_anonymously(), _email("linked"), "password-linked")
    created = api.request(
        "POST", "auth", "/register/linked", user=fresh, json={"display_name": "Zé"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["display_name"] == "Zé" and created.json()["tier"] == "BRONZE"
