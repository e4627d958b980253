"""Runtime settings, read once from the environment (see the README's configuration table)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

#: The Stripe keys of ``demo-`` projects (the local Stripe accepts any test key; tools sign
#: test webhook events with the same secret).
DEMO_STRIPE_SECRET_KEY = "sk_test_celeste_dev"
DEMO_STRIPE_PUBLISHABLE_KEY = "pk_test_celeste_dev"
DEMO_STRIPE_WEBHOOK_SECRET = "whsec_celeste_dev"
#: Set with ``firebase functions:secrets:set NAME`` in a real project (never in the repo).
STRIPE_SECRETS = ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")


def is_demo(project_id: str) -> bool:
    """Whether the project is a local ``demo-`` one (emulators only, never real money)."""
    return project_id.startswith("demo-")


def payment_secrets(env: dict[str, str] | None = None) -> list[str]:
    """The Firebase secrets the paying functions declare: none in ``demo-`` projects (the
    emulator would try to reach Secret Manager), the Stripe keys everywhere else."""
    env = dict(os.environ if env is None else env)
    project = env.get("GCLOUD_PROJECT") or env.get("GOOGLE_CLOUD_PROJECT") or "demo-celeste"
    return [] if is_demo(project) else list(STRIPE_SECRETS)


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
    #: ``None`` outside ``demo-`` projects when unset: such a deployment refuses to take payment.
    stripe_secret_key: str | None = None
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: str | None = None
    #: Only for the local Stripe; unset in production (the library's default is Stripe's API).
    stripe_api_base: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read the settings from ``env`` (default: the process environment)."""
        env = dict(os.environ if env is None else env)
        project = env.get("GCLOUD_PROJECT") or env.get("GOOGLE_CLOUD_PROJECT") or "demo-celeste"
        demo = is_demo(project)
        return cls(
            project_id=project,
            redis_url=env.get("REDIS_URL") or None,
            redis_timeout_s=float(env.get("CELESTE_REDIS_TIMEOUT_MS", "50")) / 1000,
            cache_ttl_s=int(env.get("CELESTE_CACHE_TTL_S", "300")),
            cache_freshness_s=float(env.get("CELESTE_CACHE_FRESHNESS_S", "1")),
            auth_check_s=float(env.get("CELESTE_AUTH_CHECK_S", "5")),
            order_hold_minutes=int(env.get("CELESTE_ORDER_HOLD_MINUTES", "15")),
            stripe_secret_key=_or_demo(env, "STRIPE_SECRET_KEY", DEMO_STRIPE_SECRET_KEY, demo),
            stripe_publishable_key=_or_demo(
                env, "STRIPE_PUBLISHABLE_KEY", DEMO_STRIPE_PUBLISHABLE_KEY, demo
            ),
            stripe_webhook_secret=_or_demo(
                env, "STRIPE_WEBHOOK_SECRET", DEMO_STRIPE_WEBHOOK_SECRET, demo
            ),
            stripe_api_base=env.get("STRIPE_API_BASE") or None,
        )


def _or_demo(env: dict[str, str], name: str, demo_default: str, demo: bool) -> str | None:
    # A demo- project falls back to the local Stripe's keys; any other project has none.
    return env.get(name) or (demo_default if demo else None)


@cache
def settings() -> Settings:
    """The process's settings, read on first use."""
    return Settings.from_env()
