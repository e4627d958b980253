"""Rate limiting use case: count a request per caller and per IP, refuse it when over a limit."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from celeste.kernel.errors import RateLimited
from celeste.kernel.ratelimits import Limit, Policy
from celeste.ports.ratelimits import RateCounter


@dataclass(frozen=True)
class Counted:
    """The counts one accepted request added (per caller, per address), so that a request that
    turns out not to count (a discount code that applied) can be taken back out."""

    counter: RateCounter | None = None
    keys: tuple[str, ...] = ()

    def give_back(self) -> None:
        """Take this request's counts back out (nothing when nothing was counted)."""
        if self.counter is None:
            return
        for counted in self.keys:
            self.counter.give_back(counted)


class RateLimiter:
    """Applies the named ``policies`` over a ``RateCounter`` (which fails open)."""

    def __init__(self, *, counter: RateCounter, policies: Mapping[str, Policy]) -> None:
        self._counter = counter
        self._policies = dict(policies)

    def policy(self, name: str) -> Policy:
        """The policy called ``name`` (``KeyError`` for a name nobody configured)."""
        return self._policies[name]

    def check(self, name: str, *, uid: str | None, ip: str | None) -> Counted:
        """Count one request of kind ``name``; ``RateLimited`` (429) when the caller's or the
        IP's limit is reached. A refused request is not counted (also not by a limit it passed
        before another refused it), so ``Retry-After`` holds. Returns what was counted."""
        policy = self._policies[name]
        subjects: list[tuple[str, Limit | None, str | None]] = [
            ("user", policy.per_user, uid),
            ("ip", policy.per_ip, ip),
        ]
        counted: list[str] = []
        for kind, limit, subject in subjects:
            if limit is None or not subject:
                continue
            key = f"{name}:{kind}:{hashlib.sha256(subject.encode()).hexdigest()[:24]}"
            decision = self._counter.hit(key, limit)
            if not decision.allowed:
                Counted(self._counter, tuple(counted)).give_back()
                who = "this account" if kind == "user" else "this address"
                raise RateLimited(
                    f"too many {name} requests from {who} (at most {limit}); retry in "
                    f"{decision.retry_after_s} s",
                    retry_after_s=decision.retry_after_s,
                )
            if decision.counted is not None:
                counted.append(decision.counted)
        return Counted(self._counter, tuple(counted))
