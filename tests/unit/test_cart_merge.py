"""A guest's cart and wishlist merged into an account's on sign-in, and a guest's sign-up
(linked account) registered: the merge rule as tables and properties, the service over
in-memory fakes (one atomic commit, retries, races, caps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from celeste.accounts.profiles import Identity, LinkedRegisterRequest
from celeste.cart.lines import (
    MAX_CART_LINES,
    MAX_LINE_QUANTITY,
    CartLine,
    CartMergeRequest,
    CartMergeResult,
    WishlistEntry,
    merge_cart_lines,
    merge_wishlist,
)
from celeste.kernel.errors import Conflict, NotFound, ValidationFailed
from celeste.services.accounts import AccountService
from celeste.services.cart import CartMergeService
from tests.fakes import (
    FakeIdentity,
    InMemoryCart,
    InMemoryCartMerges,
    InMemoryProfiles,
    InMemoryWishlist,
    ladder,
)

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=1)
ACCOUNT = "account-1"
GUEST = "guest-1"


def product_of(variant_id: str) -> str:
    """The product of a variant these tests name: ``shirt-S`` is ``shirt``'s, ``apple`` is the
    one variant of ``apple``."""
    return variant_id.split("-")[0]


def line(variant_id: str, quantity: int, minute: int = 0) -> CartLine:
    at = T0 + timedelta(minutes=minute)
    return CartLine(
        product_id=product_of(variant_id),
        variant_id=variant_id,
        quantity=quantity,
        added_at=at,
        updated_at=at,
    )


def entry(variant_id: str, minute: int = 0) -> WishlistEntry:
    return WishlistEntry(
        product_id=product_of(variant_id),
        variant_id=variant_id,
        added_at=T0 + timedelta(minutes=minute),
    )


# --- the rule -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mine", "theirs", "merged", "outcome"),
    [
        (3, 5, 5, "raised"),  # the guest's larger quantity wins
        (5, 3, 5, "kept"),  # the account's larger quantity stays
        (4, 4, 4, "kept"),  # equal: nothing to write
        (1, MAX_LINE_QUANTITY, MAX_LINE_QUANTITY, "raised"),  # never past the line cap
    ],
)
def test_a_product_in_both_carts_keeps_the_larger_quantity_never_the_sum(
    mine: int, theirs: int, merged: int, outcome: str
) -> None:
    result = merge_cart_lines([line("apple", mine)], [line("apple", theirs)], now=NOW)
    assert result.added == ()
    if outcome == "raised":
        assert [(r.product_id, r.quantity, r.updated_at) for r in result.raised] == [
            ("apple", merged, NOW)
        ]
        assert result.raised[0].added_at == T0  # still the account's line
        assert result.kept == ()
    else:
        assert result.raised == () and result.kept == ("apple",)


def test_guest_only_products_are_added_after_the_accounts_lines_in_the_guests_order() -> None:
    result = merge_cart_lines(
        [line("bread", 1, minute=50)],
        [line("pear", 2, minute=9), line("apple", 7, minute=1)],
        now=NOW,
    )
    assert [(a.product_id, a.quantity) for a in result.added] == [("apple", 7), ("pear", 2)]
    # After every line the account had (so its earliest line still sets the cart's currency),
    # a microsecond apart in the guest's order.
    assert [a.added_at for a in result.added] == [NOW, NOW + timedelta(microseconds=1)]
    assert all(a.updated_at == a.added_at for a in result.added)
    assert result.raised == result.kept == result.dropped == ()


def test_lines_beyond_the_cart_cap_are_dropped_the_earliest_added_move_first() -> None:
    mine = [line(f"p{i}", 1) for i in range(MAX_CART_LINES - 2)]
    theirs = [line("p0", 9, minute=0)] + [line(f"g{i}", 1, minute=i + 1) for i in range(4)]
    result = merge_cart_lines(mine, theirs, now=NOW)
    assert [a.product_id for a in result.added] == ["g0", "g1"]
    assert result.dropped == ("g2", "g3")
    assert [r.product_id for r in result.raised] == ["p0"]  # a held product always merges
    assert len(mine) + len(result.added) == MAX_CART_LINES


def test_the_wishlist_is_the_union_within_its_cap() -> None:
    guest = [entry("c", 3), entry("a", 1), entry("b", 2), entry("d", 4)]
    result = merge_wishlist({"b"}, 8, guest, max_items=10)
    assert [e.product_id for e in result.added] == ["a", "c"]
    assert result.added[0].added_at == T0 + timedelta(minutes=1)  # the guest's added_at kept
    assert result.dropped == ("d",)


_lines = st.dictionaries(
    st.sampled_from([*(f"p{i}" for i in range(5)), "shirt-S", "shirt-M", "shirt-L"]),
    st.integers(1, MAX_LINE_QUANTITY),
    max_size=8,
)


@given(mine=_lines, theirs=_lines, cap=st.integers(1, 10))
def test_merging_never_sums_never_loses_the_accounts_lines_and_respects_the_caps(
    mine: dict[str, int], theirs: dict[str, int], cap: int
) -> None:
    account = [line(p, q, i) for i, (p, q) in enumerate(sorted(mine.items()))]
    guest = [line(p, q, i) for i, (p, q) in enumerate(sorted(theirs.items()))]
    result = merge_cart_lines(account, guest, now=NOW, max_lines=max(cap, len(account)))
    after = dict(mine)
    for changed in (*result.added, *result.raised):
        assert changed.product_id == product_of(changed.variant_id)
        after[changed.variant_id] = changed.quantity
    for variant, quantity in after.items():
        expected = max(mine.get(variant, 0), theirs.get(variant, 0))
        assert quantity == expected <= MAX_LINE_QUANTITY
    assert len(after) <= max(cap, len(account))
    moved = {a.variant_id for a in result.added} | {r.variant_id for r in result.raised}
    assert moved | set(result.kept) | set(result.dropped) == set(theirs)
    # Merging the merged cart with the same guest again changes nothing (idempotent rule).
    merged = [line(p, q) for p, q in after.items()]
    again = merge_cart_lines(merged, guest, now=NOW, max_lines=max(cap, len(account)))
    assert again.added == again.raised == ()


def test_the_request_needs_a_guest_token_and_nothing_else() -> None:
    assert CartMergeRequest.model_validate({"guest_token": "abc"}).guest_token == "abc"
    for body in ({}, {"guest_token": ""}, {"guest_token": 7}, {"guest_token": "x", "uid": "u"}):
        with pytest.raises(ValidationError):
            CartMergeRequest.model_validate(body)


# --- the service ----------------------------------------------------------------------------


class Merging:
    def __init__(self) -> None:
        self.cart = InMemoryCart()
        self.wishlist = InMemoryWishlist()
        self.merges = InMemoryCartMerges(self.cart, self.wishlist)
        self.service = CartMergeService(
            cart=self.cart,
            wishlist=self.wishlist,
            merges=self.merges,
            clock=lambda: NOW,
            sleep=lambda _: None,
        )

    def put(self, uid: str, *lines: CartLine) -> None:
        for one in lines:
            self.cart.create(uid, one)

    def keep(self, uid: str, *entries: WishlistEntry) -> None:
        for one in entries:
            self.wishlist.create(uid, one)

    def quantities(self, uid: str) -> dict[str, int]:
        return {one.variant_id: one.quantity for one in self.cart.lines(uid, limit=1000)}

    def listed(self, uid: str) -> set[str]:
        return {e.variant_id for e in self.wishlist.page(uid, limit=1000, cursor=None).items}


@pytest.fixture
def merging() -> Merging:
    return Merging()


def test_merge_moves_cart_and_wishlist_in_one_commit_and_empties_the_guest(
    merging: Merging,
) -> None:
    merging.put(ACCOUNT, line("apple", 3), line("bread", 5))
    merging.put(GUEST, line("apple", 5), line("bread", 2), line("pear", 1))
    merging.keep(ACCOUNT, entry("apple"))
    merging.keep(GUEST, entry("apple"), entry("soap"))
    result = merging.service.merge(ACCOUNT, GUEST)
    assert result == CartMergeResult(lines_added=1, lines_raised=1, lines_kept=1, wishlist_added=1)
    assert merging.merges.commits == 1
    assert merging.quantities(ACCOUNT) == {"apple": 5, "bread": 5, "pear": 1}
    assert merging.listed(ACCOUNT) == {"apple", "soap"}
    assert merging.quantities(GUEST) == {} and merging.listed(GUEST) == set()


def test_variants_of_one_product_merge_as_separate_lines_and_entries(merging: Merging) -> None:
    merging.put(ACCOUNT, line("shirt-S", 2), line("shirt-M", 4))
    merging.put(GUEST, line("shirt-M", 1), line("shirt-L", 3), line("shirt-S", 5))
    merging.keep(ACCOUNT, entry("shirt-S"))
    merging.keep(GUEST, entry("shirt-S"), entry("shirt-L"))
    result = merging.service.merge(ACCOUNT, GUEST)
    assert result == CartMergeResult(lines_added=1, lines_raised=1, lines_kept=1, wishlist_added=1)
    assert merging.quantities(ACCOUNT) == {"shirt-S": 5, "shirt-M": 4, "shirt-L": 3}
    assert {x.product_id for x in merging.cart.lines(ACCOUNT, limit=10)} == {"shirt"}
    assert merging.listed(ACCOUNT) == {"shirt-S", "shirt-L"}
    assert merging.quantities(GUEST) == {} and merging.listed(GUEST) == set()


def test_dropped_variants_are_named_by_variant_id() -> None:
    result = merge_cart_lines(
        [line("apple", 1)], [line("shirt-S", 1, 1), line("shirt-M", 1, 2)], now=NOW, max_lines=2
    )
    assert [(a.product_id, a.variant_id) for a in result.added] == [("shirt", "shirt-S")]
    assert result.dropped == ("shirt-M",)
    wished = merge_wishlist({"shirt-S"}, 1, [entry("shirt-S"), entry("shirt-M")], max_items=1)
    assert (wished.added, wished.dropped) == ((), ("shirt-M",))


def test_a_retried_merge_changes_nothing(merging: Merging) -> None:
    merging.put(ACCOUNT, line("apple", 3))
    merging.put(GUEST, line("apple", 5), line("pear", 2))
    merging.keep(GUEST, entry("soap"))
    merging.service.merge(ACCOUNT, GUEST)
    before = (merging.cart.rows.copy(), merging.wishlist.rows.copy())
    assert merging.service.merge(ACCOUNT, GUEST) == CartMergeResult()
    assert (merging.cart.rows, merging.wishlist.rows) == before
    assert merging.merges.commits == 1


def test_a_merge_that_raced_a_change_is_decided_again_never_doubled(merging: Merging) -> None:
    merging.put(ACCOUNT, line("apple", 3))
    merging.put(GUEST, line("apple", 5), line("pear", 2))
    # Between the merge's reads and its commit, the account raises apple and adds pear.
    merging.merges.interleave(
        lambda: merging.cart.set_quantity(ACCOUNT, "apple", quantity=9, updated_at=NOW)
    )
    merging.merges.interleave(lambda: merging.cart.create(ACCOUNT, line("pear", 4)))
    result = merging.service.merge(ACCOUNT, GUEST)
    assert merging.quantities(ACCOUNT) == {"apple": 9, "pear": 4}
    assert merging.quantities(GUEST) == {}
    assert (result.lines_added, result.lines_raised, result.lines_kept) == (0, 0, 2)


def test_a_concurrent_merge_of_the_same_guest_moves_it_once(merging: Merging) -> None:
    merging.put(ACCOUNT, line("apple", 3))
    merging.put(GUEST, line("apple", 5), line("pear", 2))
    merging.merges.interleave(lambda: other_service(merging).merge(ACCOUNT, GUEST))
    merging.service.merge(ACCOUNT, GUEST)
    assert merging.quantities(ACCOUNT) == {"apple": 5, "pear": 2}
    assert merging.merges.commits == 1


def other_service(merging: Merging) -> CartMergeService:
    return CartMergeService(
        cart=merging.cart,
        wishlist=merging.wishlist,
        merges=merging.merges,
        clock=lambda: NOW,
        sleep=lambda _: None,
    )


def test_what_does_not_fit_is_dropped_and_named(merging: Merging) -> None:
    service = CartMergeService(
        cart=merging.cart,
        wishlist=merging.wishlist,
        merges=merging.merges,
        clock=lambda: NOW,
        max_lines=2,
        max_items=1,
        sleep=lambda _: None,
    )
    merging.put(ACCOUNT, line("apple", 1))
    merging.put(GUEST, line("pear", 1, minute=1), line("soap", 1, minute=2))
    merging.keep(ACCOUNT, entry("apple"))
    merging.keep(GUEST, entry("pear"))
    result = service.merge(ACCOUNT, GUEST)
    assert (result.lines_added, result.cart_dropped) == (1, ["soap"])
    assert (result.wishlist_added, result.wishlist_dropped) == (0, ["pear"])
    assert merging.quantities(GUEST) == {} and merging.listed(GUEST) == set()


def test_a_wishlist_larger_than_one_commit_moves_in_several(merging: Merging) -> None:
    merging.keep(GUEST, *(entry(f"w{i:03}", i) for i in range(300)))
    result = merging.service.merge(ACCOUNT, GUEST)
    assert result.wishlist_added == 300 and merging.merges.commits == 3
    assert len(merging.listed(ACCOUNT)) == 300 and merging.listed(GUEST) == set()


def test_merging_an_account_into_itself_is_refused(merging: Merging) -> None:
    merging.put(ACCOUNT, line("apple", 3))
    with pytest.raises(ValidationFailed) as caught:
        merging.service.merge(ACCOUNT, ACCOUNT)
    assert [e.field for e in caught.value.errors] == ["guest_token"]
    assert merging.quantities(ACCOUNT) == {"apple": 3}


def test_an_empty_guest_merges_nothing_and_writes_nothing(merging: Merging) -> None:
    merging.put(ACCOUNT, line("apple", 3))
    assert merging.service.merge(ACCOUNT, GUEST) == CartMergeResult()
    assert merging.merges.commits == 0


# --- a guest's sign-up: the linked account's registration ----------------------------------


@pytest.fixture
def accounts() -> tuple[AccountService, InMemoryProfiles, FakeIdentity]:
    profiles, identity = InMemoryProfiles(), FakeIdentity()
    service = AccountService(
        profiles=profiles, identity=identity, tiers=ladder({"BRONZE": True}), clock=lambda: NOW
    )
    return service, profiles, identity


def test_a_linked_guest_gets_the_profile_registration_makes(
    accounts: tuple[AccountService, InMemoryProfiles, FakeIdentity],
) -> None:
    service, profiles, identity = accounts
    uid = identity.add("ana@example.com")  # the guest's account, email linked by the client
    made, created = service.register_linked(
        Identity(uid=uid, email="ana@example.com"),
        LinkedRegisterRequest(display_name="Ana"),
    )
    assert created and made.value.uid == uid
    assert (made.value.email, made.value.display_name, made.value.tier) == (
        "ana@example.com",
        "Ana",
        "BRONZE",
    )
    assert identity.accounts[uid].display_name == "Ana"
    assert profiles.get(uid).value == made.value


def test_a_linked_guest_with_a_profile_gets_it_upgraded(
    accounts: tuple[AccountService, InMemoryProfiles, FakeIdentity],
) -> None:
    service, _, identity = accounts
    uid = identity.add("ana@example.com")
    guest = service.me(Identity(uid=uid, email=None))  # GET /me while still a guest
    assert guest.value.email is None and guest.value.display_name == "Customer"
    made, created = service.register_linked(
        Identity(uid=uid, email="ana@example.com"), LinkedRegisterRequest(display_name="Ana")
    )
    assert not created
    assert (made.value.email, made.value.display_name) == ("ana@example.com", "Ana")
    assert made.value.created_at == guest.value.created_at


def test_a_still_anonymous_account_cannot_register_as_linked(
    accounts: tuple[AccountService, InMemoryProfiles, FakeIdentity],
) -> None:
    service, profiles, _ = accounts
    with pytest.raises(Conflict):
        service.register_linked(
            Identity(uid="anon", email=None), LinkedRegisterRequest(display_name="Ana")
        )
    with pytest.raises(NotFound):  # the profile was not made
        profiles.get("anon")
