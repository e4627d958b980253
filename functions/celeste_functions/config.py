"""Runtime settings, read once from the environment (see the README's configuration table)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from celeste_functions.http.cors import CorsPolicy


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
        )


@cache
def settings() -> Settings:
    """The process's settings, read on first use."""
    return Settings.from_env()
