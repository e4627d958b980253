"""Admin bodies of shipping methods, tax rates and discount codes: bad input names the field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from celeste.kernel.errors import ValidationFailed
from celeste.orders.requests import CheckoutRequest
from celeste.pricing.discount_codes import DiscountCodeCreate, DiscountCodePatch
from celeste.pricing.shipping import ShippingMethodCreate
from celeste.pricing.tax import TaxRateBody

METHOD = {"code": "standard", "name": "Standard", "price": 500, "currency": "EUR"}
CODE = {"code": "save10", "kind": "percentage", "value": 10}
ADDRESS = {"name": "A", "line1": "L", "city": "C", "postal_code": "1000", "country": "PT"}


def _field_of(model: type[BaseModel], data: dict[str, Any]) -> str:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return ".".join(str(p) for p in exc.errors()[0]["loc"])
    except ValidationFailed as exc:
        return exc.errors[0].field
    raise AssertionError(f"{data} was accepted")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": -1}, "price"),
        ({"price": 4.5}, "price"),
        ({"price": "500"}, "price"),
        ({"free_over": -10}, "free_over"),
        ({"countries": ["XX"]}, "countries.0"),
        ({"countries": ["PT", "PT"]}, "countries"),
        ({"currency": "eur"}, "currency"),
        ({"code": "Has Space"}, "code"),
        ({"total": 1}, "total"),
    ],
)
def test_bad_shipping_methods_name_the_field(change: dict[str, Any], field: str) -> None:
    assert _field_of(ShippingMethodCreate, {**METHOD, **change}) == field


def test_countries_are_upper_cased_and_sorted() -> None:
    method = ShippingMethodCreate.model_validate({**METHOD, "countries": ["es", "pt"]})
    assert method.countries == ["ES", "PT"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rate_bp": -1}, "rate_bp"),
        ({"rate_bp": 12.5}, "rate_bp"),
        ({"rate_bp": 10_001}, "rate_bp"),
        ({"rate_bp": 2000, "inclusive": "yes"}, "inclusive"),
        ({"rate_bp": 2000, "country": "PT"}, "country"),
    ],
)
def test_bad_tax_rates_name_the_field(body: dict[str, Any], field: str) -> None:
    assert _field_of(TaxRateBody, body) == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"value": 0}, "value"),
        ({"value": 12.5}, "value"),
        ({"value": 101}, "value"),
        ({"kind": "fixed", "value": 500}, "currency"),
        ({"kind": "bogo"}, "kind"),
        ({"min_subtotal": -1}, "min_subtotal"),
        ({"usage_limit": 0}, "usage_limit"),
        (
            {
                "valid_from": "2026-03-02T00:00:00Z",
                "valid_until": "2026-03-01T00:00:00Z",
            },
            "valid_until",
        ),
        ({"valid_from": "2026-03-02T00:00:00"}, "valid_from"),
        ({"times_used": 3}, "times_used"),
        ({"tiers": ["gold"]}, "tiers.0"),
    ],
)
def test_bad_codes_name_the_field(change: dict[str, Any], field: str) -> None:
    assert _field_of(DiscountCodeCreate, {**CODE, **change}) == field


def test_codes_are_stored_upper_case() -> None:
    assert DiscountCodeCreate.model_validate(CODE).code == "SAVE10"


def test_a_patch_is_validated_with_the_code_it_changes() -> None:
    from celeste.pricing.discount_codes import DiscountCode

    now = datetime(2026, 3, 1, tzinfo=UTC)
    current = DiscountCode(
        code="SAVE10", kind="percentage", value=10, created_at=now, updated_at=now
    )
    with pytest.raises(ValidationFailed) as refused:
        DiscountCodePatch(value=150).apply(current, at=now)
    assert refused.value.errors[0].field == "value"
    patched = DiscountCodePatch(usage_limit=3).apply(current, at=now)
    assert (patched.usage_limit, patched.times_used, patched.value) == (3, 0, 10)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"total": 0}, "total"),
        ({"lines": []}, "lines"),
        ({"shipping_address": {**ADDRESS, "country": "ZZ"}}, "shipping_address.country"),
        ({"discount_code": "no spaces"}, "discount_code"),
        ({"shipping_method": "Bad Method"}, "shipping_method"),
    ],
)
def test_checkout_bodies_refuse_client_totals_and_bad_fields(
    change: dict[str, Any], field: str
) -> None:
    body = {"store_id": "s1", "shipping_address": ADDRESS, **change}
    assert _field_of(CheckoutRequest, body) == field
