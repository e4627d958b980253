"""Runtime settings, read once from the environment (the table: docs/operations.md).

Fails closed: an environment without a project id, or with emulator hosts in a project that is
not a ``demo-`` one, is refused (:class:`Misconfigured`): every request is a 503 and every
trigger fails, with the reason in the log, instead of falling back to the demo project's
public keys or to emulators (whose tokens firebase_admin accepts unsigned). Decided on first
use, never at ``import main``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from celeste.kernel.errors import CelesteError
from celeste.kernel.ratelimits import Limit, Policy
from celeste_functions.http.cors import CorsPolicy
from celeste_functions.logs import get_logger

if TYPE_CHECKING:
    # At use only: ``celeste.orders.holds`` loads the order model, and ``main`` imports this module
    # for ``payment_secrets``; a cold ``import main`` stays the SDK's own.
    from celeste.orders.holds import HoldCaps

#: The Stripe keys of ``demo-`` projects (the local Stripe accepts any test key; tools sign
#: test webhook events with the same secret).
DEMO_STRIPE_SECRET_KEY = "sk_test_celeste_dev"
DEMO_STRIPE_PUBLISHABLE_KEY = "pk_test_celeste_dev"
DEMO_STRIPE_WEBHOOK_SECRET = "whsec_celeste_dev"
#: FCM's HTTP v1 API, and the loopback fake ``make dev`` runs (``tools/fake_fcm.py``).
FCM_URL = "https://fcm.googleapis.com"
DEMO_FCM_URL = "http://127.0.0.1:8426"
#: Set with ``firebase functions:secrets:set NAME`` in a real project (never in the repo).
STRIPE_SECRETS = ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")


#: The variables naming a project id, in the order they are read.
PROJECT_VARS = ("GCLOUD_PROJECT", "GOOGLE_CLOUD_PROJECT")
#: Variables that point SDKs at an emulator (``FIRESTORE_EMULATOR_HOST``,
#: ``FIREBASE_AUTH_EMULATOR_HOST``, ``FIREBASE_EMULATOR_HUB``, ...), and the functions
#: emulator's own flag.
_EMULATOR_VAR = re.compile(r"_EMULATOR_(HOST|ADDRESS|HUB)$")
_EMULATOR_FLAG = "FUNCTIONS_EMULATOR"

log = get_logger("config")


class Misconfigured(CelesteError):
    """The environment must not be served (``reason`` says why, for the log); clients get a
    503 ``not-configured`` that names no setting. Not a ``NotConfigured``: nothing that copes
    with a missing payment provider may swallow it."""

    title = "Not configured"

    def __init__(self, reason: str) -> None:
        super().__init__(
            "this deployment refuses to serve until its configuration is fixed "
            "(the server log says why)"
        )
        self.reason = reason


def is_demo(project_id: str) -> bool:
    """Whether the project is a local ``demo-`` one (emulators only, never real money)."""
    return project_id.startswith("demo-")


def project_of(env: Mapping[str, str]) -> str | None:
    """The project id named by ``env``, or ``None`` (never a default)."""
    for name in PROJECT_VARS:
        if env.get(name):
            return env[name]
    return None


def emulator_settings(env: Mapping[str, str]) -> list[str]:
    """The names of the set variables in ``env`` that point at emulators."""
    return sorted(
        name
        for name, value in env.items()
        if value
        and (_EMULATOR_VAR.search(name) or (name == _EMULATOR_FLAG and value.lower() == "true"))
    )


def refusal(env: Mapping[str, str]) -> str | None:
    """Why the functions must not serve with ``env``, or ``None`` when they may: a project id
    is required (no silent ``demo-`` fallback, with its public keys), the project variables must
    agree, and emulators are for ``demo-`` projects only (in emulator mode firebase_admin
    accepts unsigned ID tokens, so anyone could claim ``role: admin``)."""
    named = {env[name] for name in PROJECT_VARS if env.get(name)}
    project = project_of(env)
    if project is None:
        return f"no project id: set {' or '.join(PROJECT_VARS)} (the runtime sets it)"
    if len(named) > 1:
        return f"{' and '.join(PROJECT_VARS)} name different projects ({', '.join(sorted(named))})"
    emulated = emulator_settings(env)
    if emulated and not is_demo(project):
        return (
            f"emulator settings ({', '.join(emulated)}) in project {project!r}: emulators are "
            "for demo- projects only (their ID tokens are accepted unsigned); unset them"
        )
    return None


def payment_secrets(env: dict[str, str] | None = None) -> list[str]:
    """The Firebase secrets the paying functions declare: none in ``demo-`` projects (the
    emulator would try to reach Secret Manager), the Stripe keys everywhere else (also when no
    project is named: such a process refuses to serve anyway)."""
    env = dict(os.environ if env is None else env)
    project = project_of(env)
    return [] if project is not None and is_demo(project) else list(STRIPE_SECRETS)


#: Rate limit defaults: policy -> (per signed-in caller, per client IP), as ``N/SECONDS``; each
#: is overridden by ``CELESTE_RATE_<POLICY>_PER_USER`` / ``_PER_IP`` (``off`` disables one).
RATE_LIMIT_DEFAULTS: dict[str, tuple[str, str]] = {
    "register": ("off", "10/600"),  # anonymous: per IP only
    "orders": ("10/60", "100/60"),
    "catalogue-scan": ("60/60", "120/60"),  # uncached catalogue queries that scan
    "quote": ("30/60", "60/60"),  # POST /pricing/quote: public, and prices from Firestore
    "discount-code": ("10/600", "30/600"),  # failed discount code attempts (checkout)
}


def rate_policies(env: Mapping[str, str]) -> dict[str, Policy]:
    """The rate limit policies from ``env`` and the defaults above."""
    policies = {}
    for name, (per_user, per_ip) in RATE_LIMIT_DEFAULTS.items():
        prefix = "CELESTE_RATE_" + name.upper().replace("-", "_")
        user_var, ip_var = prefix + "_PER_USER", prefix + "_PER_IP"
        policies[name] = Policy(
            per_user=Limit.parse(env.get(user_var, per_user), setting=user_var),
            per_ip=Limit.parse(env.get(ip_var, per_ip), setting=ip_var),
        )
    return policies


@dataclass(frozen=True)
class Settings:
    """Everything the functions read from the environment."""

    project_id: str
    redis_url: str | None
    redis_timeout_s: float
    cache_ttl_s: int
    cache_freshness_s: float
    auth_check_s: float
    order_hold_minutes: int
    #: Browser origins allowed to call the functions (``CELESTE_CORS_ORIGINS``).
    cors: CorsPolicy
    #: ``None`` outside ``demo-`` projects when unset: such a deployment refuses to take payment.
    stripe_secret_key: str | None = None
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: str | None = None
    #: Only for the local Stripe; unset in production (the library's default is Stripe's API).
    stripe_api_base: str | None = None

    rate_policies: Mapping[str, Policy] = field(default_factory=dict)
    #: Proxies that append to ``X-Forwarded-For`` in front of the function (Google's front end:
    #: 1); the client address is that many entries from the right.
    trusted_proxy_hops: int = 1
    hold_caps: HoldCaps = field(default_factory=lambda: _hold_caps({}))
    #: The pauses after each failed webhook attempt, in seconds (``CELESTE_WEBHOOK_RETRY_SCHEDULE``;
    #: ``None``: the domain's default, 31.7 h in all).
    webhook_retry_schedule: tuple[int, ...] | None = None
    #: Finally-failed deliveries in a row that deactivate an endpoint
    #: (``CELESTE_WEBHOOK_DEACTIVATE_AFTER``; ``None``: the domain's default, 5).
    webhook_deactivate_after: int | None = None

    #: Notifications (docs/notifications.md): the SMTP server (``None`` outside ``demo-``
    #: projects when unset: emails then fail and are retried), the sender, the shop's name in
    #: every message, FCM's base URL (the loopback fake locally) and the delivery claim's lease.
    smtp_host: str | None = "127.0.0.1"
    smtp_port: int = 1025
    smtp_starttls: bool = False
    mail_from: str = "Celeste <shop@celeste.invalid>"
    shop_name: str = "Celeste"
    fcm_url: str = DEMO_FCM_URL
    notify_lease_s: int = 60
    #: How long after an event occurred the outbox sweep re-drives its fan-outs
    #: (``CELESTE_OUTBOX_GRACE_S``; docs/events.md, *Delivery*).
    outbox_grace_s: int = 120

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read the settings from ``env`` (default: the process environment);
        :class:`Misconfigured` when it must not be served (see :func:`refusal`)."""
        env = dict(os.environ if env is None else env)
        reason = refusal(env)
        if reason is not None:
            raise Misconfigured(reason)
        project = project_of(env)
        assert project is not None  # refusal() requires one
        demo = is_demo(project)
        return cls(
            project_id=project,
            redis_url=env.get("REDIS_URL") or None,
            redis_timeout_s=float(env.get("CELESTE_REDIS_TIMEOUT_MS", "50")) / 1000,
            cache_ttl_s=int(env.get("CELESTE_CACHE_TTL_S", "300")),
            cache_freshness_s=float(env.get("CELESTE_CACHE_FRESHNESS_S", "1")),
            auth_check_s=float(env.get("CELESTE_AUTH_CHECK_S", "5")),
            order_hold_minutes=int(env.get("CELESTE_ORDER_HOLD_MINUTES", "15")),
            cors=CorsPolicy.from_setting(env.get("CELESTE_CORS_ORIGINS"), project_id=project),
            stripe_secret_key=_or_demo(env, "STRIPE_SECRET_KEY", DEMO_STRIPE_SECRET_KEY, demo),
            stripe_publishable_key=_or_demo(
                env, "STRIPE_PUBLISHABLE_KEY", DEMO_STRIPE_PUBLISHABLE_KEY, demo
            ),
            stripe_webhook_secret=_or_demo(
                env, "STRIPE_WEBHOOK_SECRET", DEMO_STRIPE_WEBHOOK_SECRET, demo
            ),
            stripe_api_base=env.get("STRIPE_API_BASE") or None,
            rate_policies=rate_policies(env),
            trusted_proxy_hops=int(env.get("CELESTE_TRUSTED_PROXY_HOPS", "1")),
            hold_caps=_hold_caps(env),
            webhook_retry_schedule=_retry_schedule(env),
            webhook_deactivate_after=(
                int(env["CELESTE_WEBHOOK_DEACTIVATE_AFTER"])
                if env.get("CELESTE_WEBHOOK_DEACTIVATE_AFTER")
                else None
            ),
            smtp_host=env.get("CELESTE_SMTP_HOST") or ("127.0.0.1" if demo else None),
            smtp_port=int(env.get("CELESTE_SMTP_PORT", "1025" if demo else "587")),
            smtp_starttls=env.get("CELESTE_SMTP_STARTTLS", "" if demo else "true").lower()
            == "true",
            mail_from=env.get("CELESTE_MAIL_FROM") or "Celeste <shop@celeste.invalid>",
            shop_name=env.get("CELESTE_SHOP_NAME") or "Celeste",
            fcm_url=env.get("CELESTE_FCM_URL") or (DEMO_FCM_URL if demo else FCM_URL),
            notify_lease_s=int(env.get("CELESTE_NOTIFY_LEASE_S", "60")),
            outbox_grace_s=int(env.get("CELESTE_OUTBOX_GRACE_S", "120")),
        )


def _retry_schedule(env: Mapping[str, str]) -> tuple[int, ...] | None:
    from celeste.webhooks.deliveries import parse_schedule

    setting = env.get("CELESTE_WEBHOOK_RETRY_SCHEDULE")
    if not setting:
        return None
    try:
        return parse_schedule(setting)
    except ValueError as exc:
        raise Misconfigured(f"CELESTE_WEBHOOK_RETRY_SCHEDULE: {exc}") from None


def _hold_caps(env: Mapping[str, str]) -> HoldCaps:
    from celeste.orders.holds import HoldCaps

    default = HoldCaps()  # the caps' defaults live in the domain
    return HoldCaps(
        max_open_orders=int(env.get("CELESTE_HOLD_MAX_OPEN_ORDERS", default.max_open_orders)),
        max_units_per_product=int(
            env.get("CELESTE_HOLD_MAX_UNITS_PER_PRODUCT", default.max_units_per_product)
        ),
    )


def _or_demo(env: dict[str, str], name: str, demo_default: str, demo: bool) -> str | None:
    # A demo- project falls back to the local Stripe's keys; any other project has none.
    return env.get(name) or (demo_default if demo else None)


@cache
def settings() -> Settings:
    """The process's settings, read on first use; :class:`Misconfigured` (its reason logged at
    ERROR once per process) on every call for as long as the environment must not be served."""
    try:
        return Settings.from_env()
    except Misconfigured as exc:
        _log_refusal(exc.reason)
        raise


@cache
def _log_refusal(reason: str) -> None:
    log.error("refusing to serve: %s", reason, extra={"fields": {"reason": reason}})
