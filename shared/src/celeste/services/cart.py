"""Cart and wishlist use cases: keep a customer's saved variants, price the cart for their tier."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from celeste.cart.lines import (
    MAX_CART_LINES,
    MAX_WISHLIST_ITEMS,
    CartEntry,
    CartLine,
    CartMerge,
    CartMergeResult,
    PricedCart,
    WishlistEntry,
    WishlistItem,
    merge_cart_lines,
    merge_wishlist,
    unavailable_lines,
    variant_of,
)
from celeste.catalog.products import Product
from celeste.catalog.variants import Variant
from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.errors import (
    Conflict,
    Contention,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from celeste.kernel.paging import Page
from celeste.ports.cart import CartMerges, CartRepository, WishlistRepository
from celeste.ports.catalog import ProductRepository
from celeste.pricing.quotes import PricedLine
from celeste.services.pricing import PricingService, QuoteLine
from celeste.services.retry import REQUEST, Backoff, optimistic

T = TypeVar("T")


def active_variant(products: ProductRepository, variant_id: str) -> tuple[Product, Variant]:
    """The variant ``variant_id`` and its product if both are on sale; ``NotFound`` for an
    unknown or deactivated one (a customer cannot see a deactivated product in the catalogue
    either). A product without options is named by its own id (its one variant's); the id of a
    product with several variants names none of them: 400 on ``variant_id``."""
    product = products.by_variant(variant_id)
    if product is None:
        # Not a variant: perhaps the id of a product with several (it must name one).
        product = products.get_many([variant_id]).get(variant_id)
    if product is None or not product.active:
        raise NotFound(f"no active product or variant {variant_id}")
    named = variant_id if variant_id in product.variant_ids else None
    variant = product.resolve(named, field="variant_id")
    if not variant.active:
        raise NotFound(f"no active product or variant {variant_id}")
    return product, variant


def admit(
    *,
    count: Callable[[], int],
    create: Callable[[], str],
    undo: Callable[[str], None],
    cap: int,
    what: str,
) -> None:
    """Add one document to a bounded collection without a shared counter to contend on.

    The size is checked before the write and again after it: when concurrent adds took the
    collection past ``cap``, each one that sees the excess takes its own document back (at the
    version it wrote, so a later change by someone else is kept) and reports the collection full.
    Two adds racing for the last place may both be refused (the client may simply retry). The
    one way past ``cap``: a concurrent PUT of the same variant changes the new document before it
    is taken back; it is then theirs and stays (one over, until a line is removed).
    """
    if count() >= cap:
        raise Conflict(f"the {what} is full: it holds at most {cap}")
    version = create()
    if count() > cap:
        try:
            undo(version)
        except PreconditionFailed:
            return  # changed since by a concurrent PUT of the same product: theirs now
        raise Conflict(f"the {what} is full: it holds at most {cap}")


class _LineExists(Exception):
    """Another request created the document first (not the collection being full)."""


class _Raced(Exception):
    """What this attempt read changed before it finished: read again (``optimistic`` retries)."""


def _creating(create: Callable[[], str]) -> Callable[[], str]:
    """``create``, with the store's ``Conflict`` (the document exists) told apart."""

    def attempt() -> str:
        try:
            return create()
        except Conflict:
            raise _LineExists from None

    return attempt


class CartService:
    """The caller's cart: lines keyed by variant, priced on every read by ``PricingService``."""

    def __init__(
        self,
        *,
        cart: CartRepository,
        products: ProductRepository,
        pricing: PricingService,
        clock: Clock = utcnow,
        max_lines: int = MAX_CART_LINES,
        backoff: Backoff = REQUEST,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._backoff = backoff
        self._sleep = sleep
        self._cart = cart
        self._products = products
        self._pricing = pricing
        self._clock = clock
        self._max_lines = max_lines

    def set_quantity(self, uid: str, variant_id: str, quantity: int) -> tuple[CartLine, bool]:
        """Hold ``quantity`` of an active variant (``active_variant``: a product without options
        is named by its own id); returns the line and whether it was created. Each attempt is
        one single-document write: an existing line is updated in place, a new one created
        (``Conflict`` when the cart is full). Concurrent PUTs of one variant leave one line
        holding one of the quantities sent."""
        product, variant = active_variant(self._products, variant_id)
        now = self._clock()

        def attempt() -> tuple[CartLine, bool]:
            updated = self._cart.set_quantity(uid, variant.id, quantity=quantity, updated_at=now)
            if updated is not None:
                return updated, False
            line = CartLine(
                product_id=product.id,
                variant_id=variant.id,
                quantity=quantity,
                added_at=now,
                updated_at=now,
            )
            if self._add(uid, line):
                return line, True
            raise _Raced  # another PUT created the line first: update it instead

        return self._retry(attempt, what=f"cart line {variant.id}")

    def _retry(self, attempt: Callable[[], T], *, what: str) -> T:
        return optimistic(
            attempt, backoff=self._backoff, what=what, sleep=self._sleep, lost=(_Raced,)
        )

    def _add(self, uid: str, line: CartLine) -> bool:
        """Create the line within the cart's bound; ``False`` when another PUT created it first."""
        try:
            admit(
                count=lambda: self._cart.count(uid),
                create=_creating(lambda: self._cart.create(uid, line)),
                undo=lambda version: self._cart.remove(
                    uid, line.variant_id, expected_version=version
                ),
                cap=self._max_lines,
                what="cart",
            )
        except _LineExists:
            return False
        return True

    def remove(self, uid: str, variant_id: str) -> None:
        """Take the variant out of the cart; a variant not in it is no error."""
        self._cart.remove(uid, variant_id)

    def clear(self, uid: str) -> None:
        """Empty the cart."""
        self._cart.clear(uid)

    def priced(self, uid: str) -> PricedCart:
        """The cart priced for the caller's tier by the pricing engine.

        Lines whose product or variant was deactivated or removed, or is priced in another
        currency, are flagged and left out of the totals, so the cart always stays readable.
        Pricing reads the products again; when one changed in between, the whole cart is read
        again. Two variants of one product are two lines, each priced as its variant.
        """

        def attempt() -> PricedCart:
            lines = self._cart.lines(uid, limit=self._max_lines)
            products = self._products.get_many(list({line.product_id: 0 for line in lines}))
            reasons = unavailable_lines(lines, products)
            sellable = [line for line in lines if line.variant_id not in reasons]

            def entry(line: CartLine, pricing: PricedLine | None) -> CartEntry:
                product = products.get(line.product_id)
                return CartEntry(
                    line,
                    product,
                    pricing,
                    reasons.get(line.variant_id),
                    variant_of(product, line.variant_id),
                )

            if not sellable:
                entries = [entry(line, None) for line in lines]
                return PricedCart(entries, 0, 0, 0, None, self._pricing.tier_for(uid, strict=True))
            try:
                quote = self._pricing.quote(
                    [
                        QuoteLine(line.product_id, line.quantity, line.variant_id)
                        for line in sellable
                    ],
                    uid=uid,
                )
            except ValidationFailed:
                raise _Raced from None  # a product was deactivated (or re-priced) meanwhile
            pricing = {priced.variant_id: priced for priced in quote.lines}
            entries = [entry(line, pricing.get(line.variant_id)) for line in lines]
            return PricedCart(
                entries,
                quote.subtotal,
                quote.discount_total,
                quote.total,
                quote.currency,
                quote.tier,
            )

        return self._retry(attempt, what="pricing the cart")


class WishlistService:
    """The caller's wishlist: variants kept for later, newest first."""

    def __init__(
        self,
        *,
        wishlist: WishlistRepository,
        products: ProductRepository,
        clock: Clock = utcnow,
        max_items: int = MAX_WISHLIST_ITEMS,
        backoff: Backoff = REQUEST,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._backoff = backoff
        self._sleep = sleep
        self._wishlist = wishlist
        self._products = products
        self._clock = clock
        self._max_items = max_items

    def page(self, uid: str, *, limit: int, cursor: str | None) -> Page[WishlistItem]:
        """A page of the wishlist, each entry with its product's summary and its variant while
        they exist."""
        entries = self._wishlist.page(uid, limit=limit, cursor=cursor)
        wanted = {entry.product_id: 0 for entry in entries.items}
        products = self._products.get_many(list(wanted))
        items = [WishlistItem.of(entry, products.get(entry.product_id)) for entry in entries.items]
        return Page(items, entries.next_cursor)

    def add(self, uid: str, variant_id: str) -> tuple[WishlistEntry, bool]:
        """Keep an active variant (as ``active_variant``: a product without options is named by
        its own id); returns the entry and whether it was added now. Adding a variant already
        kept changes nothing (its ``added_at`` stays)."""
        product, variant = active_variant(self._products, variant_id)

        def attempt() -> tuple[WishlistEntry, bool]:
            existing = self._wishlist.get(uid, variant.id)
            if existing is not None:
                return existing, False
            entry = WishlistEntry(
                product_id=product.id, variant_id=variant.id, added_at=self._clock()
            )
            if self._add(uid, entry):
                return entry, True
            raise _Raced  # another request added it first: answer with theirs

        return optimistic(
            attempt,
            backoff=self._backoff,
            what=f"wishlist entry {variant.id}",
            sleep=self._sleep,
            lost=(_Raced,),
        )

    def _add(self, uid: str, entry: WishlistEntry) -> bool:
        """Create the entry within the bound; ``False`` when another PUT created it first."""
        try:
            admit(
                count=lambda: self._wishlist.count(uid),
                create=_creating(lambda: self._wishlist.create(uid, entry)),
                undo=lambda version: self._wishlist.remove(
                    uid, entry.variant_id, expected_version=version
                ),
                cap=self._max_items,
                what="wishlist",
            )
        except _LineExists:
            return False
        return True

    def remove(self, uid: str, variant_id: str) -> None:
        """Forget the variant; a variant not on the wishlist is no error."""
        self._wishlist.remove(uid, variant_id)


#: The guest's cart lines, and separately wishlist entries, moved per commit: each moved item is
#: at most two writes, so a commit stays within Firestore's 500 writes (a whole cart, at most
#: ``MAX_CART_LINES`` lines, always moves in one commit).
MERGE_CHUNK = 120
#: Commits before a merge gives up on a guest whose saved products keep growing meanwhile.
MERGE_ROUNDS = 10


class CartMergeService:
    """A guest's (anonymous account's) cart and wishlist merged into a signed-in account's.

    Each round reads the guest's lines and entries and the account's, decides with
    ``merge_cart_lines`` and ``merge_wishlist``, and commits one batch that writes the account's
    lines and entries and deletes the guest's, each at the version read. So a retried, repeated
    or concurrent merge finds the guest's moved variants gone and changes nothing more, and a
    merge that raced any change is written not at all and decided again.
    """

    def __init__(
        self,
        *,
        cart: CartRepository,
        wishlist: WishlistRepository,
        merges: CartMerges,
        clock: Clock = utcnow,
        max_lines: int = MAX_CART_LINES,
        max_items: int = MAX_WISHLIST_ITEMS,
        backoff: Backoff = REQUEST,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._cart = cart
        self._wishlist = wishlist
        self._merges = merges
        self._clock = clock
        self._max_lines = max_lines
        self._max_items = max_items
        self._backoff = backoff
        self._sleep = sleep

    def merge(self, uid: str, guest_uid: str) -> CartMergeResult:
        """Move everything the guest ``guest_uid`` saved into ``uid``'s cart and wishlist (the
        caller proved both identities); what it did, all zero when the guest had nothing left."""
        if guest_uid == uid:
            raise ValidationFailed.on(
                "guest_token", "this is the signed-in account's own token: nothing to merge"
            )
        total = CartMergeResult()
        for _ in range(MERGE_ROUNDS):
            step = optimistic(
                lambda: self._round(uid, guest_uid),
                backoff=self._backoff,
                what="merging the guest's cart",
                sleep=self._sleep,
            )
            if step is None:
                return total
            total = _sum(total, step)
        raise Contention("the guest's cart kept growing while it was merged", retry_after_s=1)

    def _round(self, uid: str, guest_uid: str) -> CartMergeResult | None:
        guest_lines = self._cart.versioned_lines(guest_uid, limit=MERGE_CHUNK)
        guest_entries = self._wishlist.versioned_entries(guest_uid, limit=MERGE_CHUNK)
        if not guest_lines and not guest_entries:
            return None
        account = self._cart.versioned_lines(uid, limit=2 * self._max_lines) if guest_lines else []
        versions = {row.value.variant_id: row.version for row in account}
        lines = merge_cart_lines(
            [row.value for row in account],
            [row.value for row in guest_lines],
            now=self._clock(),
            max_lines=self._max_lines,
        )
        guest_variants = [row.value.variant_id for row in guest_entries]
        entries = merge_wishlist(
            self._wishlist.listed(uid, guest_variants) if guest_variants else set(),
            self._wishlist.count(uid) if guest_variants else 0,
            [row.value for row in guest_entries],
            max_items=self._max_items,
        )
        self._merges.commit(
            CartMerge(
                uid=uid,
                guest_uid=guest_uid,
                add_lines=lines.added,
                raise_lines=tuple((line, versions[line.variant_id]) for line in lines.raised),
                take_lines=tuple((row.value.variant_id, row.version) for row in guest_lines),
                add_entries=entries.added,
                take_entries=tuple((row.value.variant_id, row.version) for row in guest_entries),
            )
        )
        return CartMergeResult(
            lines_added=len(lines.added),
            lines_raised=len(lines.raised),
            lines_kept=len(lines.kept),
            wishlist_added=len(entries.added),
            cart_dropped=list(lines.dropped),
            wishlist_dropped=list(entries.dropped),
        )


def _sum(a: CartMergeResult, b: CartMergeResult) -> CartMergeResult:
    return CartMergeResult(
        lines_added=a.lines_added + b.lines_added,
        lines_raised=a.lines_raised + b.lines_raised,
        lines_kept=a.lines_kept + b.lines_kept,
        wishlist_added=a.wishlist_added + b.wishlist_added,
        cart_dropped=[*a.cart_dropped, *b.cart_dropped],
        wishlist_dropped=[*a.wishlist_dropped, *b.wishlist_dropped],
    )
