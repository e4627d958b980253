"""Celeste's Cloud Functions registry: global options, then every function; no I/O at import."""

from typing import TYPE_CHECKING, Any

from firebase_functions import firestore_fn, https_fn, options, scheduler_fn, tasks_fn

# Before any handler module is imported (docs/architecture.md): the default cpu="gcf_gen1" means
# a fraction of a CPU and concurrency 1.
options.set_global_options(region="us-central1", cpu=1, memory=options.MemoryOption.MB_512)

from celeste_functions.config import payment_secrets  # noqa: E402
from celeste_functions.http import server as _server  # noqa: E402

# The server layer's own errors (gunicorn's 431/400 before Flask runs) answer problem+json too.
_server.install()

from celeste_functions.imports import lazy_module  # noqa: E402

# Each function's module is imported on its first call: an instance serving `products` never
# loads orders or inventory, and `import main` (deploy discovery, cold start) stays the SDK's.

if TYPE_CHECKING:  # the real modules, for the type checker
    from celeste_functions.resources import auth as _auth
    from celeste_functions.resources import categories as _categories
    from celeste_functions.resources import checkout as _checkout
    from celeste_functions.resources import events as _events
    from celeste_functions.resources import inventory as _inventory
    from celeste_functions.resources import me as _me
    from celeste_functions.resources import openapi as _openapi
    from celeste_functions.resources import orders as _orders
    from celeste_functions.resources import payments as _payments
    from celeste_functions.resources import pricing as _pricing
    from celeste_functions.resources import products as _products
    from celeste_functions.resources import shipping as _shipping
    from celeste_functions.resources import stores as _stores
    from celeste_functions.resources import tiers as _tiers
    from celeste_functions.resources import users as _users
    from celeste_functions.resources import webhooks as _webhooks
    from celeste_functions.triggers import catalog as _catalog
    from celeste_functions.triggers import notifications as _notifications
    from celeste_functions.triggers import orders as _order_triggers
    from celeste_functions.triggers import outbox as _outbox
    from celeste_functions.triggers import webhooks as _webhook_triggers
else:
    _auth = lazy_module("celeste_functions.resources.auth")
    _categories = lazy_module("celeste_functions.resources.categories")
    _events = lazy_module("celeste_functions.resources.events")
    _checkout = lazy_module("celeste_functions.resources.checkout")
    _inventory = lazy_module("celeste_functions.resources.inventory")
    _me = lazy_module("celeste_functions.resources.me")
    _openapi = lazy_module("celeste_functions.resources.openapi")
    _orders = lazy_module("celeste_functions.resources.orders")
    _payments = lazy_module("celeste_functions.resources.payments")
    _pricing = lazy_module("celeste_functions.resources.pricing")
    _products = lazy_module("celeste_functions.resources.products")
    _shipping = lazy_module("celeste_functions.resources.shipping")
    _stores = lazy_module("celeste_functions.resources.stores")
    _tiers = lazy_module("celeste_functions.resources.tiers")
    _users = lazy_module("celeste_functions.resources.users")
    _catalog = lazy_module("celeste_functions.triggers.catalog")
    _notifications = lazy_module("celeste_functions.triggers.notifications")
    _order_triggers = lazy_module("celeste_functions.triggers.orders")
    _outbox = lazy_module("celeste_functions.triggers.outbox")
    _webhooks = lazy_module("celeste_functions.resources.webhooks")
    _webhook_triggers = lazy_module("celeste_functions.triggers.webhooks")


@https_fn.on_request()
def categories(req: https_fn.Request) -> https_fn.Response:
    """The catalogue tree (public reads, admin writes)."""
    return _categories.router(req)


@https_fn.on_request()
def products(req: https_fn.Request) -> https_fn.Response:
    """The priced catalogue (public reads, admin writes)."""
    return _products.router(req)


@https_fn.on_request()
def pricing(req: https_fn.Request) -> https_fn.Response:
    """Price lists (admin) and quotes (anyone)."""
    return _pricing.router(req)


@https_fn.on_request()
def auth(req: https_fn.Request) -> https_fn.Response:
    """Public registration: the account and its profile."""
    return _auth.router(req)


@https_fn.on_request()
def me(req: https_fn.Request) -> https_fn.Response:
    """The signed-in caller's own profile."""
    return _me.router(req)


@https_fn.on_request()
def users(req: https_fn.Request) -> https_fn.Response:
    """Admins manage users: list, read, role, tier, disabled."""
    return _users.router(req)


@https_fn.on_request()
def openapi(req: https_fn.Request) -> https_fn.Response:
    """The API's OpenAPI 3.1 document (public, cacheable)."""
    return _openapi.router(req)


@firestore_fn.on_document_written(document="categories/{category_id}")
def on_category_written(event: firestore_fn.Event[firestore_fn.Change]) -> None:  # type: ignore[type-arg]
    """Retire cached categories and products after any category write."""
    _catalog.on_catalog_written(event)


@firestore_fn.on_document_written(document="products/{product_id}")
def on_product_written(event: firestore_fn.Event[firestore_fn.Change]) -> None:  # type: ignore[type-arg]
    """Retire cached product pages after any product write."""
    _catalog.on_catalog_written(event)


@firestore_fn.on_document_written(document="price_lists/{price_list_id}")
def on_price_list_written(event: firestore_fn.Event[firestore_fn.Change]) -> None:  # type: ignore[type-arg]
    """Retire cached prices after any price list write."""
    _catalog.on_catalog_written(event)


@https_fn.on_request()
def stores(req: https_fn.Request) -> https_fn.Response:
    """Stores and the near search (public reads, admin writes)."""
    return _stores.router(req)


@https_fn.on_request()
def tiers(req: https_fn.Request) -> https_fn.Response:
    """The customer tier ladder (public reads, admin writes)."""
    return _tiers.router(req)


@firestore_fn.on_document_written(document="stores/{store_id}")
def on_store_written(event: firestore_fn.Event[firestore_fn.Change]) -> None:  # type: ignore[type-arg]
    """Retire cached stores after any store write."""
    _catalog.on_catalog_written(event)


@firestore_fn.on_document_written(document="tiers/{code}")
def on_tier_written(event: firestore_fn.Event[firestore_fn.Change]) -> None:  # type: ignore[type-arg]
    """Retire cached tiers, and the prices computed from them, after any tier write."""
    _catalog.on_catalog_written(event)


#: The Stripe keys as Firebase secrets in real projects (none in demo- ones: see config).
_PAYMENT_SECRETS = payment_secrets()


@https_fn.on_request(secrets=_PAYMENT_SECRETS)
def orders(req: https_fn.Request) -> https_fn.Response:
    """Customers place, read and cancel orders; admins move them along the state machine."""
    return _orders.router(req)


@https_fn.on_request()
def inventory(req: https_fn.Request) -> https_fn.Response:
    """Admins keep stock levels and read the movement ledger and the audit."""
    return _inventory.router(req)


@https_fn.on_request()
def shipping(req: https_fn.Request) -> https_fn.Response:
    """Shipping methods (admin CRUD) and the public list of those serving an address."""
    return _shipping.router(req)


@https_fn.on_request()
def events(req: https_fn.Request) -> https_fn.Response:
    """Admins read the outbox: every order status change's event, newest first."""
    return _events.router(req)


@https_fn.on_request()
def checkout(req: https_fn.Request) -> https_fn.Response:
    """Quote the caller's cart, and place it as an order (emptying the cart in the same write)."""
    return _checkout.router(req)


@firestore_fn.on_document_written(document="shipping_methods/{code}")
def on_shipping_method_written(event: firestore_fn.Event[firestore_fn.Change]) -> None:  # type: ignore[type-arg]
    """Retire cached shipping methods after any write."""
    _catalog.on_catalog_written(event)


@firestore_fn.on_document_written(document="tax_rates/{country}")
def on_tax_rate_written(event: firestore_fn.Event[firestore_fn.Change]) -> None:  # type: ignore[type-arg]
    """Retire cached tax rates after any write."""
    _catalog.on_catalog_written(event)


@firestore_fn.on_document_created(document="orders/{order_id}")
def on_order_created(event: firestore_fn.Event[firestore_fn.DocumentSnapshot | None]) -> None:  # type: ignore[type-arg]
    """Reserve a new order's lines at its store (all or nothing) or reject it."""
    _order_triggers.on_order_created(event)


@https_fn.on_request(secrets=_PAYMENT_SECRETS)
def payments(req: https_fn.Request) -> https_fn.Response:
    """Stripe's signed webhook and the app's payment configuration."""
    return _payments.router(req)


@firestore_fn.on_document_updated(document="orders/{order_id}", secrets=_PAYMENT_SECRETS)
def on_order_updated(event: firestore_fn.Event[firestore_fn.Change]) -> None:  # type: ignore[type-arg]
    """Release, commit or count what an order's status change calls for, exactly once."""
    _order_triggers.on_order_updated(event)


@scheduler_fn.on_schedule(schedule="every 1 minutes", secrets=_PAYMENT_SECRETS)
def expire_reservations(event: scheduler_fn.ScheduledEvent) -> None:
    """Expire unpaid holds and re-drive reservations and stock effects a trigger left undone."""
    from datetime import UTC, datetime

    _order_triggers.expire_due(datetime.now(UTC))


@https_fn.on_request()
def webhooks(req: https_fn.Request) -> https_fn.Response:
    """Admins keep webhook endpoints, read their deliveries, retry and test them."""
    return _webhooks.router(req)


@firestore_fn.on_document_created(document="events/{event_id}")
def on_event_for_webhooks(event: firestore_fn.Event[firestore_fn.DocumentSnapshot | None]) -> None:  # type: ignore[type-arg]
    """Open a delivery of a new event for every endpoint subscribed to it, and enqueue it."""
    _webhook_triggers.on_event_created(event)


# A task-queue function's name is its queue's id: no underscores. The queue's own retries are
# for storage errors and tasks that came early (the delivery's schedule is its own:
# docs/webhooks.md).
@tasks_fn.on_task_dispatched(
    retry_config=options.RetryConfig(
        max_attempts=30, min_backoff_seconds=2, max_backoff_seconds=300
    ),
    timeout_sec=60,
)
def webhookdelivery(req: tasks_fn.CallableRequest[Any]) -> None:
    """Make one attempt of one webhook delivery (claimed, sent, recorded)."""
    _webhook_triggers.deliver(req.data)


# The two outbox triggers are idempotent (create-only records, fixed task ids): a repeated run
# finishes what a failed one left undone and never sends twice. firebase-functions 0.6.0 cannot
# ask for redelivery of a failed Firestore trigger (``FirestoreOptions`` writes ``retry:
# false``): ``redrive_events`` runs both once more for every event (docs/events.md, *Delivery*).
@firestore_fn.on_document_created(document="events/{event_id}")
def on_event_for_notifications(
    event: firestore_fn.Event[firestore_fn.DocumentSnapshot | None],  # type: ignore[type-arg]
) -> None:
    """Notify an event's recipients: inbox entries (once each), then a task per channel."""
    _notifications.on_event_created(event)


@tasks_fn.on_task_dispatched(
    retry_config=options.RetryConfig(max_attempts=8, min_backoff_seconds=5, max_backoff_seconds=300)
)
def notificationsend(req: tasks_fn.CallableRequest[Any]) -> None:
    """Send one channel (email or push) of one notification, exactly once as far as Celeste
    can tell (docs/notifications.md); a raise is retried with backoff."""
    _notifications.send(req.data)


@scheduler_fn.on_schedule(schedule="every 1 minutes")
def redrive_events(event: scheduler_fn.ScheduledEvent) -> None:
    """Run both outbox fan-outs once more for each event a grace period old (a failed trigger
    run is never run again by the platform)."""
    from datetime import UTC, datetime

    _outbox.redrive(datetime.now(UTC))
