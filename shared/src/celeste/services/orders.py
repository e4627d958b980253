"""Order use cases: placing and moving orders, and the stock and stats effects each move has.

Every write is optimistic (docs/architecture.md): read, decide with the pure rules, then one
atomic commit whose writes carry the versions they read (the order's included); a lost race
re-reads and decides again, with jittered backoff. Order effects write ledger rows with
deterministic ids (``{order_id}-reserve``/``-release``/``-commit``) created in the same commit,
so a redelivered or raced effect cannot apply twice: the row is the idempotency record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from celeste import inventory
from celeste.accounts import Identity
from celeste.cart import MAX_CART_LINES, CartLine, unavailable_lines
from celeste.clock import Clock, utcnow
from celeste.discount_codes import CodeUse
from celeste.errors import (
    Conflict,
    Contention,
    FieldError,
    Forbidden,
    NotFound,
)
from celeste.fulfilment import destination
from celeste.holds import OPEN_UNPAID, CustomerHolds, HoldCaps, check_hold_caps
from celeste.ids import new_id
from celeste.order_records import (
    IDEMPOTENCY_TTL,
    IdempotencyRecord,
    Order,
    OrderShortfall,
    RejectionReason,
)
from celeste.order_stats import apply_steps, stats_steps
from celeste.orders import (
    ADMIN_SETTABLE,
    DEFAULT_HOLD,
    Actor,
    CheckoutRequest,
    OrderRequest,
    OrderStatus,
    PlacementTerms,
    distinct_lines,
    hold_expires_at,
    idempotency_fingerprint,
    is_expired,
    stats_effect,
    stock_effect,
)
from celeste.payments import require_chargeable
from celeste.ports import (
    AtomicWriter,
    CartRepository,
    CustomerStandings,
    DiscountCodeRepository,
    InventoryStore,
    OrderStore,
    Page,
    ProductRepository,
    StoreDirectory,
    TierLadder,
    Versioned,
)
from celeste.products import Product
from celeste.services.accounts import AccountService
from celeste.services.backoff import REQUEST, TRIGGER, Backoff, optimistic
from celeste.services.checkout import CheckoutQuote, OrderPricer, PricedOrder
from celeste.services.concurrency import versioned_write
from celeste.services.pricing import HeldTier, PricingService, QuoteLine
from celeste.services.stores import require_open_store
from celeste.stock_records import MovementRecord, order_movement_id
from celeste.tiers import CustomerStats, evaluate_tier
from celeste.writes import (
    AddEffectMarker,
    AddMovement,
    ClearCartLines,
    CreateOrder,
    PutHolds,
    PutIdempotencyKey,
    PutLevel,
    RecordCodeUse,
    UpdateCustomer,
    UpdateOrder,
    Write,
)

log = logging.getLogger("celeste.orders")

#: A ``pending`` order older than this is re-driven by ``expire_due`` (its trigger lost every
#: race, or never ran); the same age marks a stock effect as overdue.
STALE_AFTER = timedelta(seconds=30)
#: The longest ``Prefer: wait`` a client may ask for.
MAX_WAIT_S = 10
_SYSTEM = "system"


@dataclass(frozen=True)
class Placed:
    """The order a ``POST /orders`` made, or found again for a replayed ``Idempotency-Key``."""

    order: Versioned[Order]
    replayed: bool


@dataclass(frozen=True)
class ExpiryReport:
    """What one run of ``expire_due`` did."""

    expired: int = 0
    reservations_redriven: int = 0
    stock_effects_redriven: int = 0
    failed: int = 0


def _quote_lines(lines: list[Versioned[CartLine]]) -> list[QuoteLine]:
    """Cart lines as the pricer takes them (the cart has one line per product)."""
    return [QuoteLine(line.value.product_id, line.value.quantity) for line in lines]


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
        lines = [QuoteLine(line.product_id, line.quantity) for line in request.lines]

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
            emptied = tuple((line.value.product_id, line.version) for line in lines)
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
        fulfilment decides where tax and shipping come from (``celeste.fulfilment``), and the
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
        products = self._products.get_many([line.value.product_id for line in lines])
        reasons = unavailable_lines([line.value for line in lines], products)
        if reasons:
            names = ", ".join(sorted(reasons))
            raise Conflict(
                f"these cart lines cannot be ordered: {names}; remove them first",
                [
                    FieldError(f"cart.{pid}", f"product {pid} is {why}")
                    for pid, why in reasons.items()
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


class OrderFulfilment:
    """The triggers' work: reserve a new order, apply each move's stock and stats effect once,
    expire unpaid holds and re-drive whatever a lost or out-raced trigger left undone."""

    def __init__(
        self,
        *,
        orders: OrderStore,
        inventory: InventoryStore,
        writer: AtomicWriter,
        codes: DiscountCodeRepository | None = None,
        customers: CustomerStandings,
        tiers: TierLadder,
        clock: Clock = utcnow,
        hold: timedelta = DEFAULT_HOLD,
        backoff: Backoff = TRIGGER,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._orders = orders
        self._inventory = inventory
        self._writer = writer
        self._codes = codes
        self._customers = customers
        self._tiers = tiers
        self._clock = clock
        self._hold = hold
        self._backoff = backoff
        self._sleep = sleep

    # --- on_order_created ----------------------------------------------------------------

    def reserve(self, order_id: str) -> str:
        """Reserve every line of a ``pending`` order at its store, all or nothing: ``confirmed``
        with a hold, or ``rejected`` with the short lines and stock untouched. Anything but a
        pending order is left alone, so a redelivered event does nothing. Returns the outcome."""

        def attempt() -> str:
            try:
                found = self._orders.get(order_id)
            except NotFound:
                return "missing"
            order = found.value
            if order.status is not OrderStatus.PENDING:
                return f"already {order.status}"
            now = self._clock()
            code_writes = self._count_code_use(order, now=now)
            if code_writes is None:
                self._reject(found, now=now, reason="discount_code_exhausted")
                return "rejected"
            wanted = order.quantities()
            stored = self._inventory.levels(store_id=order.store_id, product_ids=list(wanted))
            levels = {pid: record.value.level() for pid, record in stored.items()}
            result = inventory.reserve(levels=levels, lines=list(wanted.items()), order_id=order.id)
            if not result.ok:
                shortfalls = [
                    OrderShortfall(product_id=s.key, requested=s.requested, available=s.available)
                    for s in result.shortfalls
                ]
                self._reject(found, now=now, reason="out_of_stock", shortfalls=shortfalls)
                return "rejected"

            confirmed = order.move(
                OrderStatus.CONFIRMED,
                actor="system",
                at=now,
                code_state="counted" if code_writes else order.code_state,
                hold_expires_at=hold_expires_at(confirmed_at=now, hold=self._hold),
            )
            # The move's stock effect is ``reserve`` (``stock_state`` becomes ``held``): its
            # levels and ledger rows join this commit, and so does the code's use.
            writes: list[Write] = list(code_writes)
            for pid, level in result.levels.items():
                record = stored[pid]
                after = record.value.with_level(level, at=now)
                writes.append(PutLevel(after, expected_version=record.version))
                writes.append(
                    AddMovement(
                        MovementRecord.of(
                            result.movements[pid],
                            movement_id=order_movement_id(order.id, "reserve"),
                            after=after,
                            actor=_SYSTEM,
                            at=now,
                        )
                    )
                )
            writes.append(UpdateOrder(confirmed.order, expected_version=found.version))
            self._writer.commit(writes)
            return "confirmed"

        outcome = optimistic(
            attempt, backoff=self._backoff, what=f"reserving order {order_id}", sleep=self._sleep
        )
        log.info("reservation", extra={"fields": {"order_id": order_id, "outcome": outcome}})
        return outcome

    def _reject(
        self,
        found: Versioned[Order],
        *,
        now: datetime,
        reason: RejectionReason,
        shortfalls: list[OrderShortfall] | None = None,
    ) -> None:
        """Move the pending order to ``rejected``; stock and code counts stay untouched."""
        rejected = found.value.move(
            OrderStatus.REJECTED,
            actor="system",
            at=now,
            shortfalls=shortfalls or [],
            rejection_reason=reason,
        )
        self._writer.commit([UpdateOrder(rejected.order, expected_version=found.version)])

    def _count_code_use(self, order: Order, *, now: datetime) -> list[Write] | None:
        """The writes that count the order's code use with its reservation (none without a
        code), or ``None`` when the code has no use left for the order or its customer."""
        applied = order.discount_code
        if applied is None or self._codes is None or order.code_state != "none":
            return []
        found = self._codes.find(applied.code)
        if found is None:  # deleted since: nothing left to count against
            log.warning("order's code vanished", extra={"fields": {"order_id": order.id}})
            return []
        code = found.value
        mine = self._codes.customer_uses(code.code, order.user_id)
        used_by_customer = mine.value if mine else 0
        if code.exhausted or code.spent_by(used_by_customer):
            return None
        return [
            RecordCodeUse(
                use=CodeUse(
                    code=code.code,
                    order_id=order.id,
                    user_id=order.user_id,
                    kind="use",
                    times_used_after=code.times_used + 1,
                    at=now,
                ),
                times_used=code.times_used + 1,
                expected_version=found.version,
                customer_uses=used_by_customer + 1,
                customer_version=mine.version if mine else None,
            )
        ]

    def _return_code_use(self, order: Order, *, now: datetime) -> list[Write]:
        """The writes that give a counted use back with the release of the order's stock."""
        applied = order.discount_code
        if applied is None or self._codes is None:
            return []
        found = self._codes.find(applied.code)
        if found is None:
            return []
        mine = self._codes.customer_uses(applied.code, order.user_id)
        times_used = max(found.value.times_used - 1, 0)
        return [
            RecordCodeUse(
                use=CodeUse(
                    code=applied.code,
                    order_id=order.id,
                    user_id=order.user_id,
                    kind="return",
                    times_used_after=times_used,
                    at=now,
                ),
                times_used=times_used,
                expected_version=found.version,
                customer_uses=max((mine.value if mine else 0) - 1, 0),
                customer_version=mine.version if mine else None,
            )
        ]

    # --- on_order_updated ----------------------------------------------------------------

    def on_status_change(
        self, order_id: str, *, before: OrderStatus, after: OrderStatus
    ) -> list[str]:
        """Apply what the stored order still owes after an event for the move ``before ->
        after`` (the reservation itself is done by ``reserve`` in the commit that confirms).
        The event only says which effects to look at: stock, code uses and stats are each
        decided by the stored order and its create-only markers, so a redelivered, reordered or
        forged event applies nothing that did not happen, and each effect at most once."""
        done: list[str] = []
        if stock_effect(before=before, after=after) in ("release", "commit"):
            done.append(self.settle_stock(order_id))
        if stats_effect(before=before, after=after) is not None:
            done.append(self.settle_stats(order_id))
        return done

    def settle_stock(self, order_id: str) -> str:
        """Release (cancelled, expired) or commit (shipped and later) the order's held stock.

        Decided from the order's stored state, not the event: ``stock_state`` says whether the
        stock is still held, and it changes in the same commit as the levels and the
        ``{order_id}-release``/``-commit`` ledger rows, which are created (never overwritten).
        """

        def attempt() -> str:
            try:
                found = self._orders.get(order_id)
            except NotFound:
                return "missing"
            order = found.value
            target = order.stock_target()
            if target is None:
                return f"nothing to settle ({order.status}, stock {order.stock_state})"
            kind: inventory.MovementKind = "release" if target == "released" else "commit"
            apply = inventory.release if kind == "release" else inventory.commit
            wanted = order.quantities()
            stored = self._inventory.levels(store_id=order.store_id, product_ids=list(wanted))
            now = self._clock()
            writes: list[Write] = []
            for pid, quantity in wanted.items():
                record = stored.get(pid)
                if record is None:
                    raise Conflict(
                        f"stock {order.store_id}/{pid} vanished while order {order.id} held it"
                    )
                level, movement = apply(
                    level=record.value.level(), quantity=quantity, order_id=order.id
                )
                after = record.value.with_level(level, at=now)
                writes.append(PutLevel(after, expected_version=record.version))
                writes.append(
                    AddMovement(
                        MovementRecord.of(
                            movement,
                            movement_id=order_movement_id(order.id, kind),
                            after=after,
                            actor=_SYSTEM,
                            at=now,
                        )
                    )
                )
            if order.gives_code_back(target):
                writes.extend(self._return_code_use(order, now=now))
            writes.append(
                UpdateOrder(order.with_stock_state(target, at=now), expected_version=found.version)
            )
            self._writer.commit(writes)
            return target

        outcome = optimistic(
            attempt, backoff=self._backoff, what=f"settling order {order_id}", sleep=self._sleep
        )
        log.info("stock settled", extra={"fields": {"order_id": order_id, "outcome": outcome}})
        return outcome

    def settle_stats(self, order_id: str) -> str:
        """Bring the customer's stats to what the stored order says (``celeste.order_stats``):
        count it once its history shows it delivered, take each succeeded refund's share back,
        reverse the rest once it is refunded in full; then re-evaluate the tier unless it is
        locked. Each step's marker ``orders/{id}/effects/{marker}`` is created in the same
        commit as the profile update, so every step happens once, whatever the events said."""

        def attempt() -> str:
            try:
                order = self._orders.get(order_id).value
            except NotFound:
                return "missing"
            if order.reached_at(OrderStatus.DELIVERED) is None:
                return f"never delivered ({order.status}): nothing to count"
            steps = stats_steps(order, self._orders.stats_markers(order_id))
            if not steps:
                return "stats up to date"
            standing = self._customers.standing(order.user_id)
            if standing is None:
                log.warning(
                    "stats effect skipped: the customer has no profile",
                    extra={"fields": {"order_id": order_id, "uid": order.user_id}},
                )
                return "no profile"
            now = self._clock()
            stats = apply_steps(standing.value.stats, steps, order=order, now=now)
            tier = None if standing.value.tier_locked else self._earned_tier(stats, now=now)
            if tier == standing.value.tier:
                tier = None
            writes: list[Write] = [
                AddEffectMarker(
                    order_id=order.id,
                    effect=step.marker,
                    at=now,
                    amount=step.amount,
                    currency=step.currency,
                )
                for step in steps
            ]
            writes.append(
                UpdateCustomer(
                    uid=order.user_id,
                    stats=stats,
                    tier=tier,
                    at=now,
                    expected_version=standing.version,
                )
            )
            self._writer.commit(writes)
            applied = ", ".join(step.marker for step in steps)
            return f"{applied} applied" + (f", tier now {tier}" if tier else "")

        outcome = optimistic(
            attempt, backoff=self._backoff, what=f"stats of order {order_id}", sleep=self._sleep
        )
        log.info("stats effect", extra={"fields": {"order_id": order_id, "outcome": outcome}})
        return outcome

    def _earned_tier(self, stats: CustomerStats, *, now: datetime) -> str | None:
        tiers = self._tiers.all_tiers()
        if not tiers:  # no tiers configured: keep the customer's tier
            return None
        return evaluate_tier(tiers=tiers, stats=stats, now=now).code

    # --- expire_reservations -------------------------------------------------------------

    def expire_due(self, now: datetime, *, limit: int = 500) -> ExpiryReport:
        """Expire ``confirmed`` orders whose hold ended before ``now`` (their trigger releases
        the stock), and first re-drive work a trigger left undone: ``pending`` orders older than
        ``STALE_AFTER`` are reserved again, releases and commits overdue by as much are settled.
        (Orders expired by this run are left to their trigger; the next run re-drives them.)"""
        expired = redriven = settled = failed = 0
        for order in self._orders.pending_since(before=now - STALE_AFTER, limit=limit):
            try:
                self.reserve(order.id)
                redriven += 1
            except Contention:
                failed += 1
        for order in self._orders.awaiting_stock(limit=limit):
            if order.updated_at > now - STALE_AFTER:
                continue  # its trigger is most likely still running
            try:
                self.settle_stock(order.id)
                settled += 1
            except (Contention, Conflict):
                failed += 1
        for order in self._orders.due_for_expiry(now=now, limit=limit):
            try:
                expired += self._expire(order.id, now=now)
            except Contention:
                failed += 1
        report = ExpiryReport(
            expired=expired,
            reservations_redriven=redriven,
            stock_effects_redriven=settled,
            failed=failed,
        )
        log.info("expiry run", extra={"fields": {**report.__dict__, "now": now.isoformat()}})
        return report

    def _expire(self, order_id: str, *, now: datetime) -> int:
        def attempt() -> int:
            found = self._orders.get(order_id)
            order = found.value
            if not is_expired(status=order.status, hold_expires_at=order.hold_expires_at, now=now):
                return 0
            moved = order.move(OrderStatus.EXPIRED, actor="system", at=self._clock())
            self._writer.commit([UpdateOrder(moved.order, expected_version=found.version)])
            return 1

        return optimistic(
            attempt, backoff=self._backoff, what=f"expiring order {order_id}", sleep=self._sleep
        )
