"""Runtime settings, read once from the environment (see the README's configuration table)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from celeste.holds import HoldCaps
from celeste.ratelimits import Limit, Policy
from celeste_functions.http.cors import CorsPolicy

#: Rate limit defaults: policy -> (per signed-in caller, per client IP), as ``N/SECONDS``; each
#: is overridden by ``CELESTE_RATE_<POLICY>_PER_USER`` / ``_PER_IP`` (``off`` disables one).
RATE_LIMIT_DEFAULTS: dict[str, tuple[str, str]] = {
    "register": ("off", "10/600"),  # anonymous: per IP only
    "orders": ("10/60", "100/60"),
    "catalogue-scan": ("60/60", "120/60"),  # uncached catalogue queries that scan
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
    rate_policies: Mapping[str, Policy] = field(default_factory=dict)
    #: Proxies that append to ``X-Forwarded-For`` in front of the function (Google's front end:
    #: 1); the client address is that many entries from the right.
    trusted_proxy_hops: int = 1
    hold_caps: HoldCaps = field(default_factory=HoldCaps)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read the settings from ``env`` (default: the process environment)."""
        env = dict(os.environ if env is None else env)
        project = env.get("GCLOUD_PROJECT") or env.get("GOOGLE_CLOUD_PROJECT") or "demo-celeste"
        return cls(
            project_id=project,
            redis_url=env.get("REDIS_URL") or None,
            redis_timeout_s=float(env.get("CELESTE_REDIS_TIMEOUT_MS", "50")) / 1000,
            cache_ttl_s=int(env.get("CELESTE_CACHE_TTL_S", "300")),
            cache_freshness_s=float(env.get("CELESTE_CACHE_FRESHNESS_S", "1")),
            auth_check_s=float(env.get("CELESTE_AUTH_CHECK_S", "5")),
            order_hold_minutes=int(env.get("CELESTE_ORDER_HOLD_MINUTES", "15")),
            cors=CorsPolicy.from_setting(env.get("CELESTE_CORS_ORIGINS"), project_id=project),
            rate_policies=rate_policies(env),
            trusted_proxy_hops=int(env.get("CELESTE_TRUSTED_PROXY_HOPS", "1")),
            hold_caps=HoldCaps(
                max_open_orders=int(env.get("CELESTE_HOLD_MAX_OPEN_ORDERS", "5")),
                max_units_per_product=int(env.get("CELESTE_HOLD_MAX_UNITS_PER_PRODUCT", "20")),
            ),
        )


@cache
def settings() -> Settings:
    """The process's settings, read on first use."""
    return Settings.from_env()
