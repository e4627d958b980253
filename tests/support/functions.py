"""Every function main.py must register: the HTTP resources of the API and the triggers."""

HTTP_FUNCTIONS = (
    "auth",
    "categories",
    "checkout",
    "events",
    "inventory",
    "me",
    "openapi",
    "orders",
    "payments",
    "pricing",
    "products",
    "shipping",
    "stores",
    "tiers",
    "users",
    "webhooks",
)
TRIGGERS = (
    "expire_reservations",
    "on_category_written",
    "on_event_for_notifications",
    "on_event_for_webhooks",
    "on_order_created",
    "on_order_updated",
    "on_price_list_written",
    "on_product_written",
    "on_shipping_method_written",
    "on_store_written",
    "on_tax_rate_written",
    "on_tier_written",
    "redrive_events",
)
#: Task-queue functions (each one's name is its queue's: no underscores).
TASK_FUNCTIONS = ("notificationsend", "webhookdelivery")
ALL_FUNCTIONS = tuple(sorted(HTTP_FUNCTIONS + TRIGGERS + TASK_FUNCTIONS))
