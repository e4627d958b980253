"""Unit tests of variants: the option-map rules, how a line names its variant, pricing per
variant (variant-scoped rules, product rules over every variant, quantity breaks per variant),
and the catalogue's per-variant view and price range."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from celeste.catalog.products import Product, ProductCreate
from celeste.catalog.variants import (
    MAX_VARIANTS,
    Option,
    Variant,
    VariantCreate,
    check_variants,
    ordered_options,
)
from celeste.kernel.errors import ValidationFailed
from celeste.pricing.price_lists import PricedProduct, PriceList, PriceRule
from celeste.pricing.quotes import price_line
from celeste.services.pricing import PricingService, QuoteLine
from celeste.services.products import ProductService
from tests.fakes import InMemoryCatalogue

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SIZE = Option(name="Size", values=["S", "M", "L"])
COLOUR = Option(name="Colour", values=["Red", "Blue"])


def _product(**fields: Any) -> Product:
    return Product(
        **{
            "id": "tee",
            "sku": "TEE",
            "name": "Tee",
            "category_id": "cat",
            "base_price": 1000,
            "currency": "EUR",
            "created_at": NOW,
            "updated_at": NOW,
            **fields,
        }
    )


def _sized(
    *, prices: dict[str, int | None] | None = None, inactive: tuple[str, ...] = ()
) -> Product:
    prices = prices or {}
    return _product(
        options=[SIZE],
        variants=[
            Variant(
                id=f"tee-{size}",
                sku=f"TEE-{size}",
                options={"Size": size},
                base_price=prices.get(size),
                active=size not in inactive,
            )
            for size in SIZE.values
        ],
    )


def _fields(error: ValidationFailed) -> list[str]:
    return [e.field for e in error.errors]


# --- the model: a product without options sells one variant, itself ------------------------


def test_a_product_without_options_has_one_variant_whose_id_is_its_own() -> None:
    product = _product()
    (variant,) = product.all_variants
    assert (variant.id, variant.sku, variant.options, variant.base_price) == (
        "tee",
        "TEE",
        {},
        None,
    )
    assert product.resolve(None) == variant == product.resolve("tee")
    assert product.unit_price(variant) == 1000
    assert product.skus == {"TEE"}


def test_a_product_stored_before_variants_reads_as_one_variant() -> None:
    stored = {
        "id": "old",
        "sku": "OLD",
        "name": "Old",
        "category_id": "cat",
        "base_price": 5,
        "currency": "EUR",
        "created_at": NOW,
        "updated_at": NOW,
    }
    assert Product.model_validate(stored).variant_ids == ["old"]


def test_a_line_of_a_product_with_variants_must_name_one_of_its_own() -> None:
    product = _sized()
    with pytest.raises(ValidationFailed) as caught:
        product.resolve(None, field="lines[2].variant_id")
    assert _fields(caught.value) == ["lines[2].variant_id"]
    with pytest.raises(ValidationFailed):
        product.resolve("tee")  # the product's own id is no variant of a product with options
    assert product.resolve("tee-M").options == {"Size": "M"}


def test_a_variant_price_falls_back_to_the_product_price() -> None:
    product = _sized(prices={"L": 1200})
    assert [product.unit_price(v) for v in product.all_variants] == [1000, 1000, 1200]


# --- check_variants: each rule names its field -------------------------------------------------


def _create(sku: str, **options: str) -> VariantCreate:
    return VariantCreate(sku=sku, options=options)


@pytest.mark.parametrize(
    ("options", "variants", "fields"),
    [
        pytest.param(
            [SIZE],
            [_create("A", Size="S"), _create("B", Size="S")],
            ["variants[1].options"],
            id="same map",
        ),
        pytest.param(
            [SIZE], [_create("A", Size="XL")], ["variants[0].options"], id="unknown value"
        ),
        pytest.param(
            [SIZE], [_create("A", Colour="Red")], ["variants[0].options"], id="wrong option"
        ),
        pytest.param(
            [SIZE, COLOUR], [_create("A", Size="S")], ["variants[0].options"], id="missing option"
        ),
        pytest.param(
            [SIZE],
            [_create("A", Size="S"), _create("A", Size="M")],
            ["variants[1].sku"],
            id="same sku",
        ),
        pytest.param(
            [SIZE], [_create("TEE", Size="S")], ["variants[0].sku"], id="the product's sku"
        ),
        pytest.param([SIZE], [], ["variants"], id="options without variants"),
        pytest.param([], [_create("A")], ["variants"], id="variants without options"),
        pytest.param(
            [SIZE, SIZE], [_create("A", Size="S")], ["options[1].name"], id="option twice"
        ),
        pytest.param(
            [Option(name="Size", values=["S", "S"])],
            [_create("A", Size="S")],
            ["options[0].values"],
            id="value twice",
        ),
    ],
)
def test_option_maps_that_do_not_fit_are_400s_naming_the_field(
    options: list[Option], variants: list[VariantCreate], fields: list[str]
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_variants(options, variants, product_sku="TEE")
    assert _fields(caught.value) == fields


def test_at_most_250_variants() -> None:
    a = Option(name="A", values=[str(n) for n in range(16)])
    b = Option(name="B", values=[str(n) for n in range(16)])
    maps = [{"A": x, "B": y} for x, y in itertools.product(a.values, b.values)]
    variants = [VariantCreate(sku=f"V{n}", options=m) for n, m in enumerate(maps)]
    check_variants([a, b], variants[:MAX_VARIANTS], product_sku="P")
    with pytest.raises(ValidationFailed) as caught:
        check_variants([a, b], variants[: MAX_VARIANTS + 1], product_sku="P")
    assert _fields(caught.value) == ["variants"]


_values = st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4, unique=True)


@given(
    st.lists(_values, min_size=1, max_size=3),
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)), max_size=12),
)
def test_check_variants_accepts_exactly_distinct_complete_maps(
    value_lists: list[list[str]], picks: list[tuple[int, int, int]]
) -> None:
    """Over random option sets and picks: accepted exactly when there is at least one variant
    and no two pick the same values (every pick names one listed value of each option)."""
    options = [Option(name=f"O{i}", values=values) for i, values in enumerate(value_lists)]
    maps = [
        {o.name: o.values[pick[i] % len(o.values)] for i, o in enumerate(options)} for pick in picks
    ]
    variants = [VariantCreate(sku=f"S{n}", options=m) for n, m in enumerate(maps)]
    distinct = len({tuple(sorted(m.items())) for m in maps}) == len(maps)
    try:
        check_variants(options, variants, product_sku="P")
        accepted = True
    except ValidationFailed:
        accepted = False
    assert accepted == (bool(maps) and distinct)


def test_a_product_create_carries_options_and_variants() -> None:
    body = ProductCreate.model_validate(
        {
            "sku": "TEE",
            "name": "Tee",
            "category_id": "cat",
            "base_price": 1000,
            "currency": "EUR",
            "options": [{"name": "Size", "values": ["S", "M"]}],
            "variants": [
                {"sku": "TEE-S", "options": {"Size": "S"}},
                {"sku": "TEE-M", "options": {"Size": "M"}, "base_price": 1100},
            ],
        }
    )
    assert [v.base_price for v in body.variants] == [None, 1100]


def test_options_are_shown_in_the_products_order() -> None:
    assert list(ordered_options([SIZE, COLOUR], {"Colour": "Red", "Size": "S"})) == [
        "Size",
        "Colour",
    ]


# --- pricing per variant -------------------------------------------------------------------------


def _lst(*rules: dict[str, Any], **fields: Any) -> PriceList:
    return PriceList(
        **{
            "id": "L",
            "name": "List",
            "priority": 1,
            "rules": [PriceRule.model_validate(r) for r in rules],
            **fields,
        }
    )


def _price(variant_id: str, *lists: PriceList, quantity: int = 1, base: int = 1000) -> int:
    product = PricedProduct(
        product_id="tee",
        variant_id=variant_id,
        base_price=base,
        currency="EUR",
        category_path=("cat",),
    )
    line = price_line(product=product, quantity=quantity, tier="BRONZE", price_lists=lists, now=NOW)
    assert line.variant_id == variant_id
    return line.line_total


def test_a_variant_rule_prices_only_its_variant_and_a_product_rule_every_variant() -> None:
    variant_rule = _lst({"scope": "variant", "target_id": "tee-M", "kind": "fixed", "value": 300})
    assert (_price("tee-M", variant_rule), _price("tee-S", variant_rule)) == (700, 1000)
    product_rule = _lst({"scope": "product", "target_id": "tee", "kind": "percentage", "value": 10})
    assert (_price("tee-M", product_rule), _price("tee-S", product_rule)) == (900, 900)


def test_target_type_is_accepted_for_scope_and_a_variant_rule_needs_a_target() -> None:
    rule = PriceRule.model_validate(
        {"target_type": "variant", "target_id": "v1", "kind": "fixed", "value": 1}
    )
    assert rule.scope == "variant" and rule.model_dump()["scope"] == "variant"
    with pytest.raises(ValueError, match="target_id is required"):
        PriceRule.model_validate({"scope": "variant", "kind": "fixed", "value": 1})


def test_at_equal_prices_the_variant_rule_wins_over_the_product_rule() -> None:
    lists = _lst(
        {"scope": "product", "target_id": "tee", "kind": "fixed", "value": 100},
        {"scope": "variant", "target_id": "tee-M", "kind": "fixed", "value": 100},
    )
    product = PricedProduct(product_id="tee", variant_id="tee-M", base_price=1000, currency="EUR")
    line = price_line(product=product, quantity=1, tier="BRONZE", price_lists=[lists], now=NOW)
    assert line.applied_rule is not None and line.applied_rule.scope == "variant"


def test_quantity_breaks_count_each_variant_on_its_own() -> None:
    """A break from 3 units: 2 of S and 2 of M are two lines of 2, neither reaching it."""
    catalogue = InMemoryCatalogue()
    catalogue.products["tee"] = _sized()
    catalogue.price_lists = [
        _lst(
            {
                "scope": "product",
                "target_id": "tee",
                "kind": "fixed",
                "value": 100,
                "min_quantity": 3,
            }
        )
    ]
    pricing = PricingService(source=catalogue, products=catalogue, tiers=catalogue)
    two_and_two = pricing.quote(
        [QuoteLine("tee", 2, "tee-S"), QuoteLine("tee", 2, "tee-M")], uid=None
    )
    assert [line.line_total for line in two_and_two.lines] == [2000, 2000]
    three = pricing.quote([QuoteLine("tee", 3, "tee-S")], uid=None)
    assert three.lines[0].line_total == 2700
    assert (three.lines[0].sku, three.lines[0].options) == ("TEE-S", {"Size": "S"})
    assert three.lines[0].variant_title == "S"


def test_a_line_freezes_its_title_in_the_products_option_order() -> None:
    """Stored maps come back with their keys sorted; the title keeps the product's order."""
    catalogue = InMemoryCatalogue()
    catalogue.products["tee"] = _product(
        options=[SIZE, COLOUR],
        variants=[Variant(id="v", sku="V", options={"Colour": "Blue", "Size": "M"})],
    )
    catalogue.products["mug"] = _product(id="mug", sku="MUG")
    pricing = PricingService(source=catalogue, products=catalogue, tiers=catalogue)
    tee, mug = pricing.quote([QuoteLine("tee", 1, "v"), QuoteLine("mug", 1)], uid=None).lines
    assert (tee.variant_title, list(tee.options)) == ("M / Blue", ["Size", "Colour"])
    assert (mug.variant_title, mug.options, mug.variant_id) == (None, {}, "mug")


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (QuoteLine("tee", 1), "lines[0].variant_id"),
        (QuoteLine("tee", 1, "nope"), "lines[0].variant_id"),
        (QuoteLine("tee", 1, "tee-L"), "lines[0].variant_id"),  # inactive
    ],
)
def test_a_quote_line_names_a_variant_on_sale(line: QuoteLine, field: str) -> None:
    catalogue = InMemoryCatalogue()
    catalogue.products["tee"] = _sized(inactive=("L",))
    pricing = PricingService(source=catalogue, products=catalogue, tiers=catalogue)
    with pytest.raises(ValidationFailed) as caught:
        pricing.quote([line], uid=None)
    assert _fields(caught.value) == [field]


@given(st.lists(st.one_of(st.none(), st.integers(0, 5000)), min_size=1, max_size=6))
def test_the_catalogue_prices_every_variant_and_ranges_over_those_on_sale(
    prices: list[int | None],
) -> None:
    """Hypothesis over per-variant prices: each variant is priced at its own (or the product's)
    price; the range and the product's ``pricing`` follow the active variants."""
    option = Option(name="N", values=[str(n) for n in range(len(prices))])
    variants = [
        Variant(id=f"v{n}", sku=f"V{n}", options={"N": str(n)}, base_price=p, active=n % 3 != 2)
        for n, p in enumerate(prices)
    ]
    product = _product(options=[option], variants=variants)
    catalogue = InMemoryCatalogue()
    catalogue.products[product.id] = product
    service = ProductService(
        repository=None,  # type: ignore[arg-type]
        categories=None,  # type: ignore[arg-type]
        pricing=PricingService(source=catalogue, products=catalogue, tiers=catalogue),
        stock=None,  # type: ignore[arg-type]
    )
    (item,) = service._price([product], tier="BRONZE", snapshot=catalogue.snapshot(), store=None)
    own = [1000 if p is None else p for p in prices]
    assert [v.pricing.unit_final_price for v in item.variants] == own
    on_sale = [price for n, price in enumerate(own) if n % 3 != 2]
    assert item.price_range == (min(on_sale), max(on_sale))
    assert item.pricing.unit_final_price == min(on_sale)


def test_no_two_variants_of_a_generated_product_share_a_map() -> None:
    """The demo shape: 3 sizes by 2 colours is 6 distinct maps, all accepted."""
    maps = [{"Size": s, "Colour": c} for s, c in itertools.product(SIZE.values, COLOUR.values)]
    check_variants(
        [SIZE, COLOUR],
        [VariantCreate(sku=f"S{n}", options=m) for n, m in enumerate(maps)],
        product_sku="P",
    )


# --- refunds restock a variant -----------------------------------------------------------------


def test_a_restock_line_names_the_variant_when_the_order_has_several_of_the_product() -> None:
    from celeste.orders.payments import RestockLine, resolve_restock

    order = {"tee-S": "tee", "tee-M": "tee", "mug": "mug"}
    (mug,) = resolve_restock([RestockLine(product_id="mug", quantity=1)], variant_products=order)
    assert mug.variant_id == "mug" and mug.key == "mug"
    named = RestockLine(product_id="tee", variant_id="tee-M", quantity=1)
    assert resolve_restock([named], variant_products=order) == [named]
    for line, field in [
        (RestockLine(product_id="tee", quantity=1), "restock[0].variant_id"),
        (RestockLine(product_id="tee", variant_id="mug", quantity=1), "restock[0].variant_id"),
        (RestockLine(product_id="pen", quantity=1), "restock[0].product_id"),
    ]:
        with pytest.raises(ValidationFailed) as caught:
            resolve_restock([line], variant_products=order)
        assert _fields(caught.value) == [field]
