"""The composition root: which adapter backs which port, built once per process."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from celeste.kernel.errors import NotConfigured
from celeste.kernel.ratelimits import Policy
from celeste.orders.payment_provider import PaymentProvider, PaymentsNotConfigured
from celeste.ports.events import EventLog
from celeste.ports.notifications import Mailer, Pusher
from celeste.ports.tasks import TaskQueue
from celeste.services.accounts import AccountService
from celeste.services.cart import CartMergeService, CartService, WishlistService
from celeste.services.categories import CategoryService
from celeste.services.discount_codes import DiscountCodeService
from celeste.services.fulfilment import OrderFulfilment
from celeste.services.inventory import InventoryService, StockAuditor
from celeste.services.notifications import DeliverySettings, NotificationService
from celeste.services.order_pricing import OrderPricer
from celeste.services.outbox_sweep import OutboxSweep
from celeste.services.payment_events import PaymentEventService
from celeste.services.payments import PaymentService
from celeste.services.placing import OrderService
from celeste.services.pricing import PriceListService, PricingService
from celeste.services.products import ProductService
from celeste.services.ratelimits import RateLimiter
from celeste.services.refunds import Refunds
from celeste.services.shipping import ShippingService
from celeste.services.stores import StoreService
from celeste.services.tax import TaxRateService
from celeste.services.tier_standing import TierStandingService
from celeste.services.tiers import TierService
from celeste.services.webhooks import WebhookService
from celeste_functions.adapters.accounts import (
    FirebaseIdentity,
    FirestoreCustomers,
    FirestoreProfiles,
)
from celeste_functions.adapters.cache import Cache, Epochs
from celeste_functions.adapters.cached import (
    CachedShippingMethods,
    CachedStores,
    CachedTaxRates,
    CachedTiers,
)
from celeste_functions.adapters.cart import (
    FirestoreCart,
    FirestoreCartMerges,
    FirestoreWishlist,
)
from celeste_functions.adapters.categories import FirestoreCategories
from celeste_functions.adapters.discount_codes import FirestoreDiscountCodes
from celeste_functions.adapters.events import FirestoreEvents
from celeste_functions.adapters.inventory import FirestoreInventory
from celeste_functions.adapters.notifications import FirestoreDevices, FirestoreInbox
from celeste_functions.adapters.orders import FirestoreOrders
from celeste_functions.adapters.payments import FirestorePaymentRecords
from celeste_functions.adapters.pricing import CachedPricingSource, FirestorePriceLists
from celeste_functions.adapters.products import FirestoreProducts
from celeste_functions.adapters.ratelimit import RedisRateCounter
from celeste_functions.adapters.shipping import FirestoreShippingMethods
from celeste_functions.adapters.stores import FirestoreStoreDirectory, FirestoreStores
from celeste_functions.adapters.sweeps import FirestoreSweepCursors
from celeste_functions.adapters.tasks import CloudTasks
from celeste_functions.adapters.tax_rates import FirestoreTaxRates
from celeste_functions.adapters.tiers import FirestoreTiers
from celeste_functions.adapters.webhook_sender import HttpWebhookSender
from celeste_functions.adapters.webhooks import FirestoreWebhooks
from celeste_functions.adapters.writer import FirestoreWriter
from celeste_functions.clients import Lazy, firebase_app, firestore_client, redis_client
from celeste_functions.config import RATE_LIMIT_DEFAULTS, is_demo, settings


class _Unwired:
    """Stands where a test wired no service; any use says which one is missing."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        raise RuntimeError(f"service {self._name!r} is not wired in this composition")


def _unwired(name: str) -> Callable[[], Any]:
    return lambda: cast(Any, _Unwired(name))


def _unlimited() -> RateLimiter:
    """Every policy known, none limiting (tests that wire no limiter are not rate limited)."""
    off = {name: Policy(per_user=None, per_ip=None) for name in RATE_LIMIT_DEFAULTS}
    return RateLimiter(counter=cast(Any, _Unwired("rate counter")), policies=off)


@dataclass(frozen=True)
class Services:
    """Everything the handlers and triggers call (tests wire only what they use)."""

    cache: Cache
    categories: CategoryService = field(default_factory=_unwired("categories"))
    products: ProductService = field(default_factory=_unwired("products"))
    price_lists: PriceListService = field(default_factory=_unwired("price_lists"))
    pricing: PricingService = field(default_factory=_unwired("pricing"))
    accounts: AccountService = field(default_factory=_unwired("accounts"))
    stores: StoreService = field(default_factory=_unwired("stores"))
    tiers: TierService = field(default_factory=_unwired("tiers"))
    orders: OrderService = field(default_factory=_unwired("orders"))
    fulfilment: OrderFulfilment = field(default_factory=_unwired("fulfilment"))
    inventory: InventoryService = field(default_factory=_unwired("inventory"))
    auditor: StockAuditor = field(default_factory=_unwired("auditor"))
    cart: CartService = field(default_factory=_unwired("cart"))
    wishlist: WishlistService = field(default_factory=_unwired("wishlist"))
    cart_merge: CartMergeService = field(default_factory=_unwired("cart_merge"))
    tier_standing: TierStandingService = field(default_factory=_unwired("tier_standing"))
    payments: PaymentService = field(default_factory=_unwired("payments"))
    payment_events: PaymentEventService = field(default_factory=_unwired("payment_events"))
    shipping: ShippingService = field(default_factory=_unwired("shipping"))
    tax_rates: TaxRateService = field(default_factory=_unwired("tax_rates"))
    discount_codes: DiscountCodeService = field(default_factory=_unwired("discount_codes"))
    events: EventLog = field(default_factory=_unwired("events"))
    tasks: TaskQueue = field(default_factory=_unwired("tasks"))
    webhooks: WebhookService = field(default_factory=_unwired("webhooks"))
    notifications: NotificationService = field(default_factory=_unwired("notifications"))
    outbox_sweep: OutboxSweep = field(default_factory=_unwired("outbox_sweep"))
    limiter: RateLimiter = field(default_factory=_unlimited)


def build(*, clock: Callable[[], float] = time.monotonic) -> Services:
    """Every adapter and every service, each built once (services share them); ``clock`` times
    the cache's freshness window."""
    db = firestore_client.get
    ttl = settings().cache_ttl_s
    window = settings().cache_freshness_s
    epochs = Epochs(client=db, window_s=window, clock=clock)
    cache = Cache(client=redis_client.get, ttl_s=ttl, epochs=epochs)
    # Every commit goes through the writer, which retires the cache scopes it made stale.
    writer = FirestoreWriter(client=db, cache=cache)
    categories = FirestoreCategories(client=db, writer=writer)
    products = FirestoreProducts(client=db, writer=writer)
    inventory = FirestoreInventory(client=db)
    orders = FirestoreOrders(client=db)
    stores = FirestoreStoreDirectory(client=db)
    customers = FirestoreCustomers(client=db, window_s=window, clock=clock)
    pricing = PricingService(
        source=CachedPricingSource(client=db, cache=cache, ceiling_s=ttl),
        products=products,
        tiers=customers,
        stock=inventory,
        stores=stores,
    )
    tiers = TierService(
        repository=CachedTiers(inner=FirestoreTiers(client=db, writer=writer), cache=cache)
    )
    profiles = FirestoreProfiles(client=db)
    accounts = AccountService(
        profiles=profiles,
        identity=FirebaseIdentity(app=firebase_app.get),
        tiers=tiers,
    )
    cart = FirestoreCart(client=db)
    # Checkout: shipping and tax read through the cache like the catalogue; codes never are.
    shipping = ShippingService(
        repository=CachedShippingMethods(
            inner=FirestoreShippingMethods(client=db, writer=writer), cache=cache
        )
    )
    tax_rates = TaxRateService(
        repository=CachedTaxRates(inner=FirestoreTaxRates(client=db, writer=writer), cache=cache)
    )
    codes = FirestoreDiscountCodes(client=db)
    pricer = OrderPricer(pricing=pricing, tax_rates=tax_rates, shipping=shipping, codes=codes)
    # Payments: the admin's and the order's refunds and the webhook's share one Refunds.
    tasks = CloudTasks(app=firebase_app.get, emulated=is_demo(settings().project_id))
    events = FirestoreEvents(client=db)
    payment_records = FirestorePaymentRecords(client=db)
    refunds = Refunds(
        orders=orders, writer=writer, inventory=inventory, provider=stripe_provider.get
    )
    payment_events = PaymentEventService(
        orders=orders,
        writer=writer,
        records=payment_records,
        provider=stripe_provider.get,
        refunds=refunds,
    )
    webhooks = _webhooks(db, events=events, tasks=tasks)
    notifications = NotificationService(
        inbox=FirestoreInbox(client=db),
        devices=FirestoreDevices(client=db),
        profiles=profiles,
        events=events,
        tasks=tasks,
        mailer=mailer.get,
        pusher=pusher.get,
        settings=_delivery_settings(),
    )
    return Services(
        cache=cache,
        limiter=RateLimiter(
            counter=RedisRateCounter(cache=cache), policies=settings().rate_policies
        ),
        categories=CategoryService(repository=categories),
        products=ProductService(
            repository=products,
            categories=categories,
            pricing=pricing,
            stock=inventory,
            variant_uses=_VariantUses(inventory=inventory, orders=orders),
            cache_ceiling_s=ttl,
        ),
        price_lists=PriceListService(repository=FirestorePriceLists(client=db, writer=writer)),
        pricing=pricing,
        accounts=accounts,
        stores=StoreService(
            repository=CachedStores(inner=FirestoreStores(client=db, writer=writer), cache=cache),
            references=_StoreReferences(inventory=inventory, orders=orders),
        ),
        tiers=tiers,
        orders=OrderService(
            orders=orders,
            writer=writer,
            pricing=pricing,
            stores=stores,
            accounts=accounts,
            pricer=pricer,
            cart=cart,
            products=products,
            caps=settings().hold_caps,
        ),
        fulfilment=OrderFulfilment(
            orders=orders,
            inventory=inventory,
            writer=writer,
            codes=codes,
            customers=customers,
            tiers=tiers,
            hold=timedelta(minutes=settings().order_hold_minutes),
        ),
        inventory=InventoryService(
            inventory=inventory, writer=writer, stores=stores, products=products
        ),
        auditor=StockAuditor(inventory=inventory, orders=orders),
        cart=CartService(cart=cart, products=products, pricing=pricing),
        wishlist=WishlistService(wishlist=FirestoreWishlist(client=db), products=products),
        cart_merge=CartMergeService(
            cart=cart, wishlist=FirestoreWishlist(client=db), merges=FirestoreCartMerges(client=db)
        ),
        tier_standing=TierStandingService(accounts=accounts, tiers=tiers),
        payments=PaymentService(
            orders=orders,
            writer=writer,
            records=payment_records,
            provider=stripe_provider.get,
            refunds=refunds,
            events=payment_events,
        ),
        payment_events=payment_events,
        shipping=shipping,
        tax_rates=tax_rates,
        discount_codes=DiscountCodeService(repository=codes),
        events=events,
        tasks=tasks,
        webhooks=webhooks,
        notifications=notifications,
        outbox_sweep=OutboxSweep(
            events=events,
            cursors=FirestoreSweepCursors(client=db),
            fan_outs=(webhooks.fan_out, notifications.on_event),
            grace=timedelta(seconds=settings().outbox_grace_s),
        ),
    )


def _webhooks(
    db: Callable[[], Any], *, events: FirestoreEvents, tasks: TaskQueue
) -> WebhookService:
    """Webhooks: loopback receivers are allowed in ``demo-`` projects only."""
    config = settings()
    loopback = is_demo(config.project_id)
    optional: dict[str, Any] = {}
    if config.webhook_retry_schedule is not None:
        optional["schedule"] = config.webhook_retry_schedule
    if config.webhook_deactivate_after is not None:
        optional["deactivate_after"] = config.webhook_deactivate_after
    return WebhookService(
        repository=FirestoreWebhooks(client=db),
        events=events,
        sender=HttpWebhookSender(allow_loopback=loopback),
        tasks=tasks,
        allow_loopback=loopback,
        **optional,
    )


@dataclass(frozen=True)
class _StoreReferences:
    """``StoreReferences`` asked of the owners of stock levels and of orders."""

    inventory: FirestoreInventory
    orders: FirestoreOrders

    def holds_stock(self, store_id: str) -> bool:
        return self.inventory.has_levels(store_id)

    def has_open_orders(self, store_id: str) -> bool:
        return self.orders.has_open_orders(store_id)


@dataclass(frozen=True)
class _VariantUses:
    """``VariantUses`` asked of the owners of stock levels and of orders."""

    inventory: FirestoreInventory
    orders: FirestoreOrders

    def in_use(self, variant_id: str) -> str | None:
        store_id = self.inventory.stocked_at(variant_id)
        if store_id is not None:
            return f"holds stock at store {store_id}"
        if self.orders.has_open_orders_of(variant_id):
            return "is on an open order"
        return None


def _make_stripe() -> PaymentProvider:
    """The Stripe adapter, or a clear refusal where the keys are missing (never a free order)."""
    from celeste_functions.adapters.stripe_payments import StripePayments

    config = settings()
    keys = {
        "STRIPE_SECRET_KEY": config.stripe_secret_key,
        "STRIPE_PUBLISHABLE_KEY": config.stripe_publishable_key,
        "STRIPE_WEBHOOK_SECRET": config.stripe_webhook_secret,
    }
    missing = [name for name, value in keys.items() if not value]
    if missing or not (
        config.stripe_secret_key and config.stripe_publishable_key and config.stripe_webhook_secret
    ):
        raise PaymentsNotConfigured(
            f"project {config.project_id} takes no payment: {', '.join(missing)} not set "
            "(firebase functions:secrets:set NAME; see docs/operations.md)"
        )
    return StripePayments(
        secret_key=config.stripe_secret_key,
        publishable_key=config.stripe_publishable_key,
        webhook_secret=config.stripe_webhook_secret,
        api_base=config.stripe_api_base,
    )


def _delivery_settings() -> DeliverySettings:
    from email.utils import parseaddr

    config = settings()
    domain = parseaddr(config.mail_from)[1].rpartition("@")[2] or "celeste.invalid"
    return DeliverySettings(
        shop_name=config.shop_name,
        mail_domain=domain,
        lease=timedelta(seconds=config.notify_lease_s),
    )


def _make_mailer() -> Mailer:
    """SMTP to the configured server, or a clear refusal where none is set."""
    from celeste_functions.adapters.mail import SmtpMailer

    config = settings()
    if not config.smtp_host:
        raise NotConfigured(
            f"project {config.project_id} sends no email: CELESTE_SMTP_HOST is not set "
            "(see docs/operations.md)"
        )
    return SmtpMailer(
        host=config.smtp_host,
        port=config.smtp_port,
        sender=config.mail_from,
        starttls=config.smtp_starttls,
    )


def _make_pusher() -> Pusher:
    """FCM HTTP v1 (authenticated outside ``demo-`` projects)."""
    from celeste_functions.adapters.push import FcmPusher

    config = settings()
    return FcmPusher(
        base_url=config.fcm_url,
        project_id=config.project_id,
        authenticated=not is_demo(config.project_id),
    )


stripe_provider: Lazy[PaymentProvider] = Lazy(_make_stripe)
mailer: Lazy[Mailer] = Lazy(_make_mailer)
pusher: Lazy[Pusher] = Lazy(_make_pusher)
services: Lazy[Services] = Lazy(build)


def use(replacement: Services) -> None:
    """Back the functions with ``replacement`` (tests wire in-memory fakes this way)."""
    services._value = replacement  # the composition root owns the Lazy; reset() undoes this
