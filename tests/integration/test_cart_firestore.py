"""The cart and wishlist adapters against the Firestore emulator, alone and under the services
with concurrent requests (the pricing inputs stay in memory: only storage is under test)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import firestore

from celeste.cart.lines import CartLine, CartMerge, WishlistEntry
from celeste.catalog.events import product_event, revised
from celeste.kernel.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from celeste.services.cart import CartMergeService, CartService, WishlistService
from celeste.services.pricing import PricingService
from celeste_functions.adapters.cart import FirestoreCart, FirestoreCartMerges, FirestoreWishlist
from celeste_functions.adapters.products import FirestoreProducts
from tests.fakes import InMemoryCatalogue
from tests.support.writers import uncached_writer

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
UID = "cust-1"
OTHER = "cust-2"


@pytest.fixture
def carts(db: firestore.Client) -> FirestoreCart:
    return FirestoreCart(client=lambda: db)


@pytest.fixture
def wishlists(db: firestore.Client) -> FirestoreWishlist:
    return FirestoreWishlist(client=lambda: db)


@pytest.fixture
def catalogue() -> InMemoryCatalogue:
    catalogue = InMemoryCatalogue()
    for i in range(25):
        catalogue.add(f"p{i:02d}", price=100 + i)
    return catalogue


def line(product_id: str, quantity: int = 1, minute: int = 0) -> CartLine:
    at = T0 + timedelta(minutes=minute)
    return CartLine(product_id=product_id, quantity=quantity, added_at=at, updated_at=at)


def cart_service(carts: FirestoreCart, catalogue: InMemoryCatalogue, **kw: int) -> CartService:
    pricing = PricingService(source=catalogue, products=catalogue, tiers=catalogue)
    return CartService(cart=carts, products=catalogue, pricing=pricing, **kw)


def together(calls: list[Callable[[], object]]) -> list[BaseException]:
    """Run every call at once on its own thread; the errors they raised."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:  # collected for the test to judge
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


# --- FirestoreCart ----------------------------------------------------------------------------


def test_lines_live_under_the_user_one_document_per_product(
    carts: FirestoreCart, db: firestore.Client
) -> None:
    version = carts.create(UID, line("p02", 3, minute=2))
    assert version.isdigit()
    carts.create(UID, line("p01", 1, minute=1))
    carts.create(UID, line("p00", 1, minute=1))
    carts.create(OTHER, line("p09", 9))
    stored = db.collection("users").document(UID).collection("cart").document("p02").get()
    assert stored.to_dict() == {
        "product_id": "p02",
        "variant_id": "p02",
        "quantity": 3,
        "added_at": T0 + timedelta(minutes=2),
        "updated_at": T0 + timedelta(minutes=2),
    }
    assert [x.product_id for x in carts.lines(UID, limit=10)] == ["p00", "p01", "p02"]
    assert [x.product_id for x in carts.lines(UID, limit=2)] == ["p00", "p01"]
    assert (carts.count(UID), carts.count(OTHER), carts.count("nobody")) == (3, 1, 0)
    assert carts.lines(UID, limit=10)[2] == line("p02", 3, minute=2)


def test_create_refuses_an_existing_line(carts: FirestoreCart) -> None:
    carts.create(UID, line("p00", 2))
    with pytest.raises(Conflict):
        carts.create(UID, line("p00", 5))
    assert carts.lines(UID, limit=10)[0].quantity == 2


def test_set_quantity_updates_only_an_existing_line(carts: FirestoreCart) -> None:
    assert carts.set_quantity(UID, "p00", quantity=4, updated_at=T0) is None
    assert carts.count(UID) == 0
    carts.create(UID, line("p00", 2))
    later = T0 + timedelta(hours=1)
    updated = carts.set_quantity(UID, "p00", quantity=7, updated_at=later)
    assert updated == CartLine(product_id="p00", quantity=7, added_at=T0, updated_at=later)
    assert carts.lines(UID, limit=10) == [updated]


def test_remove_is_idempotent_and_guarded_by_a_version(carts: FirestoreCart) -> None:
    version = carts.create(UID, line("p00"))
    carts.set_quantity(UID, "p00", quantity=3, updated_at=T0)
    with pytest.raises(PreconditionFailed):
        carts.remove(UID, "p00", expected_version=version)  # changed since: kept
    assert carts.count(UID) == 1
    carts.remove(UID, "p00")
    carts.remove(UID, "p00")
    with pytest.raises(PreconditionFailed):
        carts.remove(UID, "p00", expected_version=version)  # gone
    fresh = carts.create(UID, line("p01"))
    carts.remove(UID, "p01", expected_version=fresh)
    assert carts.count(UID) == 0


def test_clear_empties_only_that_cart(carts: FirestoreCart) -> None:
    for i in range(12):
        carts.create(UID, line(f"p{i:02d}"))
    carts.create(OTHER, line("p00"))
    carts.clear(UID)
    carts.clear(UID)
    assert (carts.count(UID), carts.count(OTHER)) == (0, 1)


# --- variants -----------------------------------------------------------------------------------


def variant_line(variant_id: str, quantity: int = 1, minute: int = 0) -> CartLine:
    at = T0 + timedelta(minutes=minute)
    return CartLine(
        product_id=variant_id.split("-")[0],
        variant_id=variant_id,
        quantity=quantity,
        added_at=at,
        updated_at=at,
    )


def test_each_variant_is_its_own_document_keyed_by_variant_id(
    carts: FirestoreCart, db: firestore.Client
) -> None:
    carts.create(UID, variant_line("shirt-S", 2, minute=1))
    carts.create(UID, variant_line("shirt-M", 1, minute=2))
    with pytest.raises(Conflict):
        carts.create(UID, variant_line("shirt-S", 5))
    col = db.collection("users").document(UID).collection("cart")
    assert sorted(s.id for s in col.stream()) == ["shirt-M", "shirt-S"]
    assert col.document("shirt-S").get().to_dict() == {
        "product_id": "shirt",
        "variant_id": "shirt-S",
        "quantity": 2,
        "added_at": T0 + timedelta(minutes=1),
        "updated_at": T0 + timedelta(minutes=1),
    }
    later = T0 + timedelta(hours=1)
    updated = carts.set_quantity(UID, "shirt-M", quantity=4, updated_at=later)
    assert updated == variant_line("shirt-M", 4, minute=2).model_copy(update={"updated_at": later})
    assert [(x.product_id, x.variant_id, x.quantity) for x in carts.lines(UID, limit=10)] == [
        ("shirt", "shirt-S", 2),
        ("shirt", "shirt-M", 4),
    ]
    carts.remove(UID, "shirt-S")
    assert [x.variant_id for x in carts.lines(UID, limit=10)] == ["shirt-M"]


def test_documents_stored_before_variants_read_their_product_as_the_variant(
    carts: FirestoreCart,
    wishlists: FirestoreWishlist,
    db: firestore.Client,
    catalogue: InMemoryCatalogue,
) -> None:
    user = db.collection("users").document(UID)
    user.collection("cart").document("p01").set(
        {"product_id": "p01", "quantity": 2, "added_at": T0, "updated_at": T0}
    )
    user.collection("wishlist").document("p02").set({"product_id": "p02", "added_at": T0})
    (stored,) = carts.lines(UID, limit=10)
    assert (stored.product_id, stored.variant_id, stored.quantity) == ("p01", "p01", 2)
    assert wishlists.get(UID, "p02") == WishlistEntry(product_id="p02", added_at=T0)
    # A PUT of the product's id changes the same document: an existing cart reads unchanged.
    line, created = cart_service(carts, catalogue).set_quantity(UID, "p01", 5)
    assert not created and (line.product_id, line.variant_id, line.added_at) == ("p01", "p01", T0)
    assert [s.id for s in user.collection("cart").stream()] == ["p01"]
    assert cart_service(carts, catalogue).priced(UID).total == 5 * 101


def test_the_cart_service_keeps_variants_over_the_firestore_catalogue(
    carts: FirestoreCart, wishlists: FirestoreWishlist, db: firestore.Client
) -> None:
    products = FirestoreProducts(client=lambda: db, writer=uncached_writer(db))
    db.collection("categories").document("cat").set({"name": "Cat", "parent_id": None})
    catalogue = InMemoryCatalogue()  # the pricing inputs (lists, tiers) only
    shirt = catalogue.add_sized("shirt", price=1500, sizes={"S": None, "M": 1800})
    for product in (shirt, catalogue.add("mug", price=900)):
        created = revised(None, product)
        products.create(created, event=product_event(None, created))
    pricing = PricingService(source=catalogue, products=products, tiers=catalogue)
    service = CartService(cart=carts, products=products, pricing=pricing)
    assert service.set_quantity(UID, "shirt-S", 2)[0].product_id == "shirt"
    service.set_quantity(UID, "shirt-M", 1)
    service.set_quantity(UID, "mug", 1)
    with pytest.raises(ValidationFailed) as refused:
        service.set_quantity(UID, "shirt", 1)
    assert [e.field for e in refused.value.errors] == ["variant_id"]
    with pytest.raises(NotFound, match="no active product or variant shirt-XL"):
        service.set_quantity(UID, "shirt-XL", 1)
    priced = service.priced(UID)
    assert [
        (e.line.variant_id, e.pricing.line_total if e.pricing else None) for e in priced.entries
    ] == [
        ("shirt-S", 3000),
        ("shirt-M", 1800),
        ("mug", 900),
    ]
    wishes = WishlistService(wishlist=wishlists, products=products)
    assert wishes.add(UID, "shirt-M")[0].variant_id == "shirt-M"
    (item,) = wishes.page(UID, limit=10, cursor=None).items
    assert (item.product_id, item.sku, item.options) == ("shirt", "SKU-shirt-M", {"Size": "M"})


def test_a_merge_moves_variants_as_separate_documents(
    carts: FirestoreCart, wishlists: FirestoreWishlist, db: firestore.Client
) -> None:
    carts.create(UID, variant_line("shirt-S", 3))
    carts.create(OTHER, variant_line("shirt-S", 5, minute=1))
    carts.create(OTHER, variant_line("shirt-M", 2, minute=2))
    wishlists.create(OTHER, WishlistEntry(product_id="shirt", variant_id="shirt-L", added_at=T0))
    result = merge_service(db).merge(UID, OTHER)
    assert (result.lines_added, result.lines_raised, result.wishlist_added) == (1, 1, 1)
    assert {x.variant_id: x.quantity for x in carts.lines(UID, limit=10)} == {
        "shirt-S": 5,
        "shirt-M": 2,
    }
    assert wishlists.listed(UID, ["shirt-L", "shirt-S"]) == {"shirt-L"}
    assert carts.count(OTHER) == 0 and wishlists.count(OTHER) == 0


# --- the cart service on Firestore, concurrently ----------------------------------------------


def test_twenty_concurrent_puts_of_different_products_make_twenty_lines(
    carts: FirestoreCart, catalogue: InMemoryCatalogue
) -> None:
    service = cart_service(carts, catalogue)
    ids = [f"p{i:02d}" for i in range(20)]
    calls: list[Callable[[], object]] = [
        lambda pid=pid: service.set_quantity(UID, pid, 2)  # type: ignore[misc]
        for pid in ids
    ]
    assert together(calls) == []
    lines = carts.lines(UID, limit=100)
    assert sorted(x.product_id for x in lines) == ids
    assert {x.quantity for x in lines} == {2}


def test_twenty_concurrent_puts_of_one_product_leave_one_line(
    carts: FirestoreCart, catalogue: InMemoryCatalogue
) -> None:
    service = cart_service(carts, catalogue)
    quantities = list(range(1, 21))
    calls: list[Callable[[], object]] = [
        lambda q=q: service.set_quantity(UID, "p00", q)  # type: ignore[misc]
        for q in quantities
    ]
    assert together(calls) == []
    lines = carts.lines(UID, limit=100)
    assert len(lines) == 1 and lines[0].quantity in quantities


def test_concurrent_adds_never_overfill_the_cart(
    carts: FirestoreCart, catalogue: InMemoryCatalogue
) -> None:
    service = cart_service(carts, catalogue, max_lines=5)
    for i in range(3):
        service.set_quantity(UID, f"p{i:02d}", 1)
    calls: list[Callable[[], object]] = [
        lambda pid=f"p{i:02d}": service.set_quantity(UID, pid, 1)  # type: ignore[misc]
        for i in range(3, 15)
    ]
    errors = together(calls)
    assert all(isinstance(error, Conflict) for error in errors), errors
    assert 3 <= carts.count(UID) <= 5
    assert len(errors) == 12 - (carts.count(UID) - 3)


def test_the_priced_cart_reads_the_stored_lines(
    carts: FirestoreCart, catalogue: InMemoryCatalogue
) -> None:
    service = cart_service(carts, catalogue)
    service.set_quantity(UID, "p01", 2)
    service.set_quantity(UID, "p03", 1)
    priced = service.priced(UID)
    assert [(e.line.product_id, e.line.quantity) for e in priced.entries] == [
        ("p01", 2),
        ("p03", 1),
    ]
    assert priced.total == 2 * 101 + 103


# --- FirestoreWishlist ------------------------------------------------------------------------


def test_wishlist_pages_newest_first(wishlists: FirestoreWishlist, db: firestore.Client) -> None:
    for i in range(5):
        wishlists.create(UID, WishlistEntry(product_id=f"p{i:02d}", added_at=T0 + timedelta(i)))
    wishlists.create(UID, WishlistEntry(product_id="p09", added_at=T0 + timedelta(4)))  # a tie
    wishlists.create(OTHER, WishlistEntry(product_id="p00", added_at=T0))
    seen: list[str] = []
    cursor = None
    while True:
        page = wishlists.page(UID, limit=2, cursor=cursor)
        seen += [entry.product_id for entry in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["p09", "p04", "p03", "p02", "p01", "p00"]
    assert wishlists.count(UID) == 6
    stored = db.collection("users").document(UID).collection("wishlist").document("p00").get()
    assert stored.to_dict() == {"product_id": "p00", "variant_id": "p00", "added_at": T0}
    with pytest.raises(ValidationFailed):
        wishlists.page(UID, limit=2, cursor="garbage")


def test_wishlist_get_create_remove(wishlists: FirestoreWishlist) -> None:
    entry = WishlistEntry(product_id="p00", added_at=T0)
    assert wishlists.get(UID, "p00") is None
    version = wishlists.create(UID, entry)
    assert wishlists.get(UID, "p00") == entry
    with pytest.raises(Conflict):
        wishlists.create(UID, WishlistEntry(product_id="p00", added_at=T0 + timedelta(1)))
    wishlists.remove(UID, "p00", expected_version=version)
    wishlists.remove(UID, "p00")
    assert wishlists.get(UID, "p00") is None


def test_concurrent_wishlist_puts_of_one_product_keep_one_entry(
    wishlists: FirestoreWishlist, catalogue: InMemoryCatalogue
) -> None:
    service = WishlistService(wishlist=wishlists, products=catalogue)
    results: list[bool] = []
    calls: list[Callable[[], object]] = [
        lambda: results.append(service.add(UID, "p00")[1]) for _ in range(10)
    ]
    assert together(calls) == []
    assert sorted(results) == [False] * 9 + [True]
    assert wishlists.count(UID) == 1


# --- a guest's cart merged into an account's ------------------------------------------------


def merge_service(db: firestore.Client) -> CartMergeService:
    return CartMergeService(
        cart=FirestoreCart(client=lambda: db),
        wishlist=FirestoreWishlist(client=lambda: db),
        merges=FirestoreCartMerges(client=lambda: db),
    )


def test_a_merge_moves_lines_and_entries_in_one_commit_and_a_retry_does_nothing(
    carts: FirestoreCart, wishlists: FirestoreWishlist, db: firestore.Client
) -> None:
    carts.create(UID, line("p00", 3))
    carts.create(OTHER, line("p00", 5, minute=1))
    carts.create(OTHER, line("p01", 2, minute=2))
    wishlists.create(UID, WishlistEntry(product_id="p02", added_at=T0))
    wishlists.create(OTHER, WishlistEntry(product_id="p02", added_at=T0))
    wishlists.create(OTHER, WishlistEntry(product_id="p03", added_at=T0))
    assert [row.value.product_id for row in wishlists.versioned_entries(OTHER, limit=10)] == [
        "p02",
        "p03",
    ]
    assert wishlists.listed(UID, ["p02", "p03", "p02"]) == {"p02"}

    result = merge_service(db).merge(UID, OTHER)
    assert (result.lines_added, result.lines_raised, result.wishlist_added) == (1, 1, 1)
    assert {x.product_id: x.quantity for x in carts.lines(UID, limit=10)} == {"p00": 5, "p01": 2}
    assert carts.lines(OTHER, limit=10) == [] and wishlists.count(OTHER) == 0
    assert wishlists.listed(UID, ["p02", "p03"]) == {"p02", "p03"}
    before = [(r.value, r.version) for r in carts.versioned_lines(UID, limit=10)]
    assert merge_service(db).merge(UID, OTHER).lines_added == 0
    assert [(r.value, r.version) for r in carts.versioned_lines(UID, limit=10)] == before


def test_a_merge_commit_that_raced_a_change_writes_nothing(
    carts: FirestoreCart, db: firestore.Client
) -> None:
    carts.create(UID, line("p00", 1))
    carts.create(OTHER, line("p00", 4))
    carts.create(OTHER, line("p01", 2))
    account = {r.value.product_id: r for r in carts.versioned_lines(UID, limit=10)}
    guest = carts.versioned_lines(OTHER, limit=10)
    merge = CartMerge(
        uid=UID,
        guest_uid=OTHER,
        add_lines=(line("p01", 2, minute=5),),
        raise_lines=((line("p00", 4), account["p00"].version),),
        take_lines=tuple((r.value.product_id, r.version) for r in guest),
        add_entries=(),
        take_entries=(),
    )
    # The guest changes a line after it was read: the whole commit is refused.
    carts.set_quantity(OTHER, "p01", quantity=3, updated_at=T0 + timedelta(minutes=9))
    with pytest.raises(PreconditionFailed):
        FirestoreCartMerges(client=lambda: db).commit(merge)
    assert {x.product_id: x.quantity for x in carts.lines(UID, limit=10)} == {"p00": 1}
    assert {x.product_id: x.quantity for x in carts.lines(OTHER, limit=10)} == {
        "p00": 4,
        "p01": 3,
    }
    # Decided again from what is stored now, the merge goes through.
    merge_service(db).merge(UID, OTHER)
    assert {x.product_id: x.quantity for x in carts.lines(UID, limit=10)} == {"p00": 4, "p01": 3}
