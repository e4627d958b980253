"""Placing orders: ``POST /orders``, checkout and the checkout quote, priced by one path, stored
with their idempotency key and hold caps in one optimistic commit; reading, listing, cancelling
and moving them (docs/architecture.md: writes are optimistic, atomic, exactly once)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from celeste.accounts.profiles import Identity
from celeste.cart.lines import MAX_CART_LINES, CartLine, unavailable_lines
from celeste.catalog.products import Product
from celeste.kernel.clock import Clock, utcnow
from celeste.kernel.errors import Conflict, FieldError, Forbidden, NotFound
from celeste.kernel.ids import new_id
from celeste.kernel.paging import Page
from celeste.kernel.versions import Versioned
from celeste.orders.fulfilment import destination
from celeste.orders.holds import OPEN_UNPAID, CustomerHolds, HoldCaps, check_hold_caps
from celeste.orders.order import IDEMPOTENCY_TTL, IdempotencyRecord, Order
from celeste.orders.payments import require_chargeable
from celeste.orders.requests import (
    CheckoutRequest,
    OrderRequest,
    PlacementTerms,
    distinct_lines,
    idempotency_fingerprint,
)
from celeste.orders.status import ADMIN_SETTABLE, Actor, OrderStatus
from celeste.ports.cart import CartRepository
from celeste.ports.catalog import ProductRepository, StoreDirectory
from celeste.ports.orders import OrderStore
from celeste.ports.writes import AtomicWriter
from celeste.services.accounts import AccountService
from celeste.services.order_pricing import CheckoutQuote, OrderPricer, PricedOrder
from celeste.services.pricing import HeldTier, PricingService, QuoteLine
from celeste.services.retry import REQUEST, Backoff, optimistic
from celeste.services.stores import require_open_store
from celeste.services.versioned import versioned_write
from celeste.writes import (
    ClearCartLines,
    CreateOrder,
    PutHolds,
    PutIdempotencyKey,
    UpdateOrder,
    Write,
)

log = logging.getLogger("celeste.orders")

#: The longest ``Prefer: wait`` a client may ask for.
MAX_WAIT_S = 10


@dataclass(frozen=True)
class Placed:
    """The order a ``POST /orders`` made, or found again for a replayed ``Idempotency-Key``."""

    order: Versioned[Order]
    replayed: bool


def _quote_lines(lines: list[Versioned[CartLine]]) -> list[QuoteLine]:
    """Cart lines as the pricer takes them (the cart has one line per variant)."""
    return [
        QuoteLine(line.value.product_id, line.value.quantity, line.value.variant_id)
        for line in lines
    ]


def _cart_item(product_id: str, variant_id: str) -> str:
    """A cart line as an error names it (a product without options: by the product alone)."""
    if variant_id == product_id:
        return f"product {product_id}"
    return f"variant {variant_id} of product {product_id}"


class OrderService:
    """What the ``orders`` and ``checkout`` functions offer: place (from lines or the cart),
    quote the cart, read, list, cancel, move."""

    def __init__(
        self,
        *,
        orders: OrderStore,
        writer: AtomicWriter,
        pricing: PricingService,
        stores: StoreDirectory,
        accounts: AccountService | None = None,
        pricer: OrderPricer | None = None,
        cart: CartRepository | None = None,
        products: ProductRepository | None = None,
        caps: HoldCaps | None = None,
        clock: Clock = utcnow,
        backoff: Backoff = REQUEST,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pricer = pricer or OrderPricer(pricing=pricing, clock=clock)
        self._cart = cart
        self._products = products
        self._caps = caps
        self._orders = orders
        self._accounts = accounts
        self._writer = writer
        self._pricing = pricing
        self._stores = stores
        self._clock = clock
        self._backoff = backoff
        self._sleep = sleep
        self._monotonic = monotonic

    def place(
        self,
        request: OrderRequest,
        *,
        identity: Identity,
        idempotency_key: str | None,
        wait_s: float = 0,
    ) -> Placed:
        """Validate, price (frozen on the order) and store a ``pending`` order; the trigger
        reserves it. Priced exactly as checkout prices (``_priced``). A known key with the same
        body returns its order; another body is 409. With ``wait_s`` the order is returned once
        settled, or as it is when the wait ends."""
        distinct_lines(request.lines)
        uid = identity.uid
        lines = [
            QuoteLine(line.product_id, line.quantity, line.variant_id) for line in request.lines
        ]

        def prepare() -> tuple[Order, list[Write]]:
            held = self._ensure_profile(identity)
            return self._new_order(
                uid, self._priced(request, uid, lines, placing=True, held=held)
            ), []

        placed = self._placing(
            uid=uid,
            idempotency_key=idempotency_key,
            fingerprint=idempotency_fingerprint(request),
            prepare=prepare,
        )
        return self._settled(placed, wait_s)

    def quote_checkout(self, request: CheckoutRequest, *, identity: Identity) -> CheckoutQuote:
        """What the caller's cart would cost now, on the request's terms; nothing is written."""
        lines, products = self._cart_lines(identity.uid)
        return CheckoutQuote.of(
            self._priced(
                request, identity.uid, _quote_lines(lines), placing=False, products=products
            )
        )

    def checkout(
        self,
        request: CheckoutRequest,
        *,
        identity: Identity,
        idempotency_key: str,
        wait_s: float = 0,
    ) -> Placed:
        """Place an order from the caller's cart, exactly as ``place`` does, and empty the cart
        in the same commit (each line deleted at the version priced, so a cart changed meanwhile
        is read and priced again). Empty cart or unavailable lines: 409, nothing written."""
        uid = identity.uid

        def prepare() -> tuple[Order, list[Write]]:
            lines, products = self._cart_lines(uid)
            held = self._ensure_profile(identity)
            priced = self._priced(
                request, uid, _quote_lines(lines), placing=True, products=products, held=held
            )
            order = self._new_order(uid, priced)
            emptied = tuple((line.value.variant_id, line.version) for line in lines)
            return order, [ClearCartLines(uid=uid, lines=emptied)]

        placed = self._placing(
            uid=uid,
            idempotency_key=idempotency_key,
            fingerprint=idempotency_fingerprint(request, purpose="checkout"),
            prepare=prepare,
        )
        return self._settled(placed, wait_s)

    def _priced(
        self,
        terms: PlacementTerms,
        uid: str,
        lines: list[QuoteLine],
        *,
        placing: bool,
        products: Mapping[str, Product] | None = None,
        held: HeldTier | None = None,
    ) -> PricedOrder:
        """The one pricing path of every order and quote: the store must take orders, the
        fulfilment decides where tax and shipping come from (``celeste.orders.fulfilment``), and the
        pricer charges them (a delivery being placed must choose a method where one serves).
        ``products`` and ``held``: what this attempt already read (each document read once)."""
        store = require_open_store(self._stores, terms.store_id)
        return self._pricer.price(
            lines,
            uid=uid,
            terms=terms,
            destination=destination(terms, store),
            placing=placing,
            products=products,
            held=held,
        )

    def _settled(self, placed: Placed, wait_s: float) -> Placed:
        if wait_s > 0 and placed.order.value.status is OrderStatus.PENDING:
            settled = self.wait_settled(placed.order.value.id, timeout_s=wait_s)
            return Placed(settled, replayed=placed.replayed)
        return placed

    def _ensure_profile(self, identity: Identity) -> HeldTier | None:
        """The delivery effect counts the order on the profile: make sure there is one. The
        tier it holds is what pricing charges (``None``: no accounts here, pricing reads it)."""
        if self._accounts is None:
            return None
        profile = self._accounts.me(identity).value
        return HeldTier(profile.tier or None)

    def _new_order(self, uid: str, priced: PricedOrder) -> Order:
        where = priced.destination
        return Order.placed(
            order_id=new_id(),
            user_id=uid,
            store_id=priced.store_id,
            quote=priced.quote,
            money=priced.money,
            now=self._clock(),
            fulfilment=where.fulfilment,
            shipping_address=where.address,
            tax_rate_bp=priced.tax_rate_bp,
            discount_code=priced.code,
            shipping_method=priced.shipping,
        )

    def _cart_lines(self, uid: str) -> tuple[list[Versioned[CartLine]], dict[str, Product]]:
        """The cart's lines with their versions, and their products as read (pricing reuses
        them): 409 when empty or when a line cannot be sold."""
        if self._cart is None or self._products is None:
            raise Conflict("checkout is not available here")
        lines = self._cart.versioned_lines(uid, limit=MAX_CART_LINES)
        if not lines:
            raise Conflict("the cart is empty: add products before checking out")
        products = self._products.get_many(list({line.value.product_id: 0 for line in lines}))
        reasons = unavailable_lines([line.value for line in lines], products)
        if reasons:
            names = ", ".join(sorted(reasons))
            of = {line.value.variant_id: line.value.product_id for line in lines}
            raise Conflict(
                f"these cart lines cannot be ordered: {names}; remove them first",
                [
                    FieldError(f"cart.{vid}", f"{_cart_item(of[vid], vid)} is {why}")
                    for vid, why in reasons.items()
                ],
            )
        return lines, products

    def _placing(
        self,
        *,
        uid: str,
        idempotency_key: str | None,
        fingerprint: str,
        prepare: Callable[[], tuple[Order, list[Write]]],
    ) -> Placed:
        """Store the order ``prepare`` builds (with its extra writes) and the key's record in
        one commit. A live key answers as a replay; a lost race (the key taken by a concurrent
        request, a cart line changed) is decided again on fresh reads."""

        def attempt() -> Placed:
            now = self._clock()
            record_id = None
            existing: Versioned[IdempotencyRecord] | None = None
            if idempotency_key is not None:
                record_id = IdempotencyRecord.id_for(user_id=uid, key=idempotency_key)
                existing = self._orders.idempotency(record_id)
                if existing is not None and existing.value.expires_at > now:
                    return self._replay(existing.value, fingerprint)
            try:
                order, extra = prepare()
            except Conflict:
                # A concurrent request with this key (a client's retry) may have placed the order
                # and emptied the cart between our key check and the cart read: answer its replay.
                raced = self._orders.idempotency(record_id) if record_id else None
                if raced is None or raced.value.expires_at <= now:
                    raise
                return self._replay(raced.value, fingerprint)
            require_chargeable(total=order.total, currency=order.currency)  # else never payable
            writes: list[Write] = [CreateOrder(order), *extra]
            if self._caps is not None:
                # A concurrent order of this customer moves their holds: this commit then
                # fails and placement decides again.
                writes.append(self._hold_write(uid, order, caps=self._caps))
            if record_id is not None:
                record = IdempotencyRecord(
                    id=record_id,
                    user_id=uid,
                    order_id=order.id,
                    fingerprint=fingerprint,
                    created_at=now,
                    expires_at=now + IDEMPOTENCY_TTL,
                )
                writes.append(
                    PutIdempotencyKey(
                        record, expected_version=existing.version if existing else None
                    )
                )
            version = self._writer.commit(writes)
            log.info("order placed", extra={"fields": {"order_id": order.id, "uid": uid}})
            # The order as written, at the version the commit gave it (what If-Match needs).
            return Placed(Versioned(order, version), replayed=False)

        return optimistic(
            attempt, backoff=self._backoff, what="placing an order", sleep=self._sleep
        )

    def _hold_write(self, uid: str, order: Order, *, caps: HoldCaps) -> PutHolds:
        """The customer's holds with ``order`` added, if the caps allow it (else 409).

        ``customer_holds/{uid}`` lists the orders that may still be open; each one's status is
        read (at most ``max_open_orders`` reads), so paid, cancelled, rejected or expired orders
        drop out without any trigger. The write carries the version read: a concurrent order
        of the same customer makes this commit fail, and placement decides again.
        """
        found = self._orders.holds(uid)
        listed = found.value.orders if found is not None else {}
        open_now = {oid: lines for oid, lines in listed.items() if self._still_open(oid)}
        wanted = order.quantities()
        check_hold_caps(open_orders=open_now, wanted=wanted, caps=caps)
        holds = CustomerHolds(
            uid=uid, orders={**open_now, order.id: wanted}, updated_at=self._clock()
        )
        return PutHolds(holds, expected_version=found.version if found is not None else None)

    def _still_open(self, order_id: str) -> bool:
        try:
            return self._orders.get(order_id).value.status in OPEN_UNPAID
        except NotFound:
            return False

    def _replay(self, record: IdempotencyRecord, fingerprint: str) -> Placed:
        if record.fingerprint != fingerprint:
            raise Conflict("this Idempotency-Key was already used with a different request body")
        return Placed(self._orders.get(record.order_id), replayed=True)

    def get(self, order_id: str, *, uid: str, is_admin: bool) -> Versioned[Order]:
        """The order, for its owner or an admin; anyone else learns nothing (404)."""
        found = self._orders.get(order_id)
        if not is_admin and found.value.user_id != uid:
            raise NotFound(f"no order {order_id}")
        return found

    def list(
        self,
        *,
        uid: str,
        is_admin: bool,
        user_id: str | None,
        status: OrderStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Order]:
        """Newest first: a customer's own orders; an admin's view of everyone's (or one user's)."""
        if not is_admin:
            if user_id is not None and user_id != uid:
                raise Forbidden("customers list only their own orders")
            user_id = uid
        return self._orders.page(user_id=user_id, status=status, limit=limit, cursor=cursor)

    def wait_settled(self, order_id: str, *, timeout_s: float) -> Versioned[Order]:
        """The order once it left ``pending`` (reserved or rejected), or as it is at the timeout."""
        deadline = self._monotonic() + min(timeout_s, MAX_WAIT_S)
        pause = 0.05
        while True:
            found = self._orders.get(order_id)
            if found.value.status is not OrderStatus.PENDING or self._monotonic() >= deadline:
                return found
            self._sleep(min(pause, max(deadline - self._monotonic(), 0)))
            pause = min(pause * 1.5, 0.25)

    def cancel(
        self, order_id: str, *, uid: str, is_admin: bool, expected_version: str | None
    ) -> Versioned[Order]:
        """The owner cancels while ``pending``/``confirmed``, an admin until it ships; else 409.
        Of concurrent cancels exactly one commits; the others then see it cancelled (409)."""
        actor: Actor = "admin" if is_admin else "customer"

        def write(found: Versioned[Order]) -> Versioned[Order]:
            order = found.value
            try:
                moved = order.move(
                    OrderStatus.CANCELLED,
                    actor=actor,
                    at=self._clock(),
                    is_owner=order.user_id == uid,
                )
            except Forbidden:
                raise Conflict(
                    f"the order is {order.status}: a customer may cancel only while it is "
                    "pending or confirmed"
                ) from None
            self._writer.commit([UpdateOrder(moved.order, expected_version=found.version)])
            return self._orders.get(order_id)

        return versioned_write(
            lambda: self.get(order_id, uid=uid, is_admin=is_admin),
            write,
            expected_version=expected_version,
            subject="the order",
            what=f"cancelling order {order_id}",
            backoff=self._backoff,
            sleep=self._sleep,
        )

    def set_status(
        self, order_id: str, status: OrderStatus, *, expected_version: str | None
    ) -> Versioned[Order]:
        """An admin moves the order along the machine; the system's own moves are 409."""
        if status not in ADMIN_SETTABLE:
            raise Conflict(f"{status} is set by the system, not by an admin")

        def write(found: Versioned[Order]) -> Versioned[Order]:
            order = found.value
            if status is OrderStatus.REFUNDED and order.payment and order.payment.amount_received:
                raise Conflict("this order was paid through Stripe: POST /orders/{id}/refund")
            moved = order.move(status, actor="admin", at=self._clock())
            self._writer.commit([UpdateOrder(moved.order, expected_version=found.version)])
            return self._orders.get(order_id)

        return versioned_write(
            lambda: self._orders.get(order_id),
            write,
            expected_version=expected_version,
            subject="the order",
            what=f"moving order {order_id}",
            backoff=self._backoff,
            sleep=self._sleep,
        )
