"""Unit tests of the one address model: its rules, its users, and reads of older documents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from celeste.accounts.profiles import Profile, ProfilePatch
from celeste.catalog.stores import StoreCreate
from celeste.kernel.addresses import (
    ISO_3166_ALPHA_2,
    Address,
    SavedAddress,
    ShippingAddress,
    upgrade_stored,
)
from celeste.orders.order import Order
from celeste.orders.requests import OrderRequest

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LISBON = {"line1": "Rua Augusta 1", "city": "Lisboa", "postal_code": "1100-048", "country": "PT"}


def _fields(model: type[BaseModel], data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [".".join(str(p) for p in e["loc"]) for e in caught.value.errors()]


def test_every_user_speaks_the_same_vocabulary() -> None:
    full = {**LISBON, "name": "Ada", "line2": "3º", "region": "Lisboa", "phone": "+351210000000"}
    store = StoreCreate.model_validate(
        {"name": "Baixa", "address": full, "location": {"lat": 38.7, "lng": -9.1}}
    )
    saved = ProfilePatch.model_validate({"addresses": [{**full, "label": "Home"}]})
    order = OrderRequest.model_validate(
        {"store_id": "s1", "lines": [{"product_id": "p1", "quantity": 1}], "shipping_address": full}
    )
    assert saved.addresses is not None and order.shipping_address is not None
    shown = [store.address, saved.addresses[0], order.shipping_address]
    assert all(isinstance(a, Address) for a in shown)
    assert {a.model_dump(mode="json", exclude={"label"})["region"] for a in shown} == {"Lisboa"}
    assert (
        store.address.model_dump()
        == order.shipping_address.model_dump()
        == saved.addresses[0].model_dump(exclude={"label"})
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"country": "XX"}, "country"),
        ({"country": "PRT"}, "country"),
        ({"line1": " "}, "line1"),
        ({"line1": "a\nb"}, "line1"),
        ({"city": "x" * 101}, "city"),
        ({"postal_code": "12/34"}, "postal_code"),
        ({"postal_code": "1" * 21}, "postal_code"),
        ({"phone": "call me"}, "phone"),
        ({"state": "CA"}, "state"),
        ({"recipient": "Ada"}, "recipient"),
        ({"label": "Home"}, "label"),
    ],
)
def test_invalid_fields_are_named(change: dict[str, Any], field: str) -> None:
    assert _fields(Address, {**LISBON, **change}) == [field]


def test_a_shipping_address_names_its_recipient_and_a_saved_one_may_have_a_label() -> None:
    assert _fields(ShippingAddress, LISBON) == ["name"]
    assert ShippingAddress.model_validate({**LISBON, "name": "Ada"}).name == "Ada"
    assert SavedAddress.model_validate({**LISBON, "label": "Work"}).label == "Work"
    assert Address.model_validate({**LISBON, "country": " pt "}).country == "PT"
    assert Address.model_validate({k: v for k, v in LISBON.items() if k != "postal_code"})


@given(st.sampled_from(sorted(ISO_3166_ALPHA_2)))
def test_every_assigned_country_is_accepted(code: str) -> None:
    assert Address.model_validate({**LISBON, "country": code.lower()}).country == code


def test_upgrade_renames_only_the_old_names() -> None:
    assert upgrade_stored({"recipient": "Ada", "state": "CA", "city": "LA"}) == {
        "name": "Ada",
        "region": "CA",
        "city": "LA",
    }
    assert upgrade_stored({"name": "Bo", "recipient": "Ada"}) == {"name": "Bo"}
    assert upgrade_stored(None) is None


def test_a_profile_stored_with_recipient_still_reads() -> None:
    stored = {
        "uid": "u1",
        "display_name": "Ada",
        "tier": "BRONZE",
        "created_at": NOW,
        "updated_at": NOW,
        "addresses": [{**LISBON, "label": "Home", "recipient": "Ada L.", "phone": "+351912345678"}],
    }
    (address,) = Profile.model_validate(stored).addresses
    assert (address.name, address.label, address.phone) == ("Ada L.", "Home", "+351912345678")


def test_an_order_stored_with_state_still_reads() -> None:
    stored = {
        "id": "o1",
        "user_id": "u1",
        "store_id": "s1",
        "status": "pending",
        "lines": [],
        "currency": "USD",
        "tier": "BRONZE",
        "subtotal": 0,
        "discount_total": 0,
        "total": 0,
        "created_at": NOW,
        "updated_at": NOW,
        "shipping_address": {
            "name": "Ada",
            "line1": "1 Main St",
            "city": "Austin",
            "state": "TX",
            "postal_code": "78701",
            "country": "US",
            "phone": None,
            "line2": None,
        },
    }
    address = Order.model_validate(stored).shipping_address
    assert address is not None and (address.name, address.region) == ("Ada", "TX")
