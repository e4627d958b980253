"""Rate limits: the sliding-window rule (tables, properties), the limiter, and the HTTP hook."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from celeste.kernel.errors import RateLimited
from celeste.kernel.ratelimits import ALLOW, Decision, Limit, Policy, decide, sliding_count
from celeste.services.ratelimits import RateLimiter
from celeste_functions.adapters.cache import Cache
from celeste_functions.composition import Services, services, use
from celeste_functions.config import RATE_LIMIT_DEFAULTS, Settings, rate_policies
from celeste_functions.http.router import Reply, RequestContext, Router
from tests.support.handlers import AS_CUSTOMER, assert_problem, call, use_test_tokens

# --- the rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/60", Limit(10, 60)),
        (" 5/600 ", Limit(5, 600)),
        ("off", None),
        ("0", None),
        ("OFF", None),
    ],
)
def test_limits_parse(text: str, expected: Limit | None) -> None:
    assert Limit.parse(text, setting="X") == expected


@pytest.mark.parametrize("text", ["10", "10/", "a/60", "0/60", "10/0", "-1/60", "1/2/3"])
def test_malformed_limits_name_their_setting(text: str) -> None:
    with pytest.raises(ValueError, match="CELESTE_RATE_X"):
        Limit.parse(text, setting="CELESTE_RATE_X")


@pytest.mark.parametrize(
    ("prior", "count", "elapsed", "expected"),
    [
        (0, 0, 0.0, ALLOW),  # the first request
        (0, 9, 30.0, ALLOW),  # the tenth of ten
        (0, 10, 30.0, Decision(False, 36)),  # full: into the next window, until 10 * 0.9 + 1 fits
        (10, 0, 0.0, Decision(False, 6)),  # the previous window still weighs 10
        (10, 0, 6.0, ALLOW),  # ... until a tenth of it has slid out (10 * 0.9 + 1 = 10)
        (10, 0, 5.0, Decision(False, 1)),
        (4, 5, 30.0, ALLOW),  # 4 * 0.5 + 6 = 8
        (8, 6, 30.0, Decision(False, 8)),  # 8 * (1 - 38/60) + 7 = 9.9
    ],
)
def test_decide_table(prior: int, count: int, elapsed: float, expected: Decision) -> None:
    assert decide(Limit(10, 60), prior=prior, count=count, elapsed_s=elapsed) == expected


limits = st.builds(Limit, st.integers(1, 50), st.integers(1, 3600))


@given(
    limit=limits,
    prior=st.integers(0, 60),
    count=st.integers(0, 60),
    fraction=st.floats(0, 0.999),
)
def test_waiting_retry_after_is_enough_and_a_second_less_is_not(
    limit: Limit, prior: int, count: int, fraction: float
) -> None:
    elapsed = fraction * limit.window_s
    decision = decide(limit, prior=prior, count=count, elapsed_s=elapsed)
    if decision.allowed:
        estimate = sliding_count(
            prior=prior, count=count + 1, elapsed_s=elapsed, window_s=limit.window_s
        )
        assert estimate <= limit.requests
        return
    assert decision.retry_after_s >= 1

    def allowed_after(wait: float) -> bool:
        later = elapsed + wait
        if later < limit.window_s:  # still the same window
            return decide(limit, prior=prior, count=count, elapsed_s=later).allowed
        if later < 2 * limit.window_s:  # the next one: today's count is its prior
            return decide(limit, prior=count, count=0, elapsed_s=later - limit.window_s).allowed
        return True

    assert allowed_after(decision.retry_after_s + 1e-6)
    if decision.retry_after_s > 1:
        assert not allowed_after(decision.retry_after_s - 1)


class MemoryCounter:
    """``RateCounter`` over dicts with a settable clock, using the same rule as Redis."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.counts: dict[str, int] = {}
        self.alive = True

    def hit(self, key: str, limit: Limit) -> Decision:
        if not self.alive:
            return ALLOW
        window = int(self.now // limit.window_s)
        current = f"{key}:{window}"
        prior = self.counts.get(f"{key}:{window - 1}", 0)
        elapsed = self.now - window * limit.window_s
        decision = decide(limit, prior=prior, count=self.counts.get(current, 0), elapsed_s=elapsed)
        if decision.allowed:
            self.counts[current] = self.counts.get(current, 0) + 1
            return Decision(True, counted=current)
        return decision

    def give_back(self, counted: str) -> None:
        if self.counts.get(counted, 0) > 0:
            self.counts[counted] -= 1


@given(
    limit=st.builds(Limit, st.integers(1, 20), st.integers(10, 120)),
    gaps=st.lists(st.floats(0, 30), min_size=1, max_size=200),
)
def test_accepted_requests_never_exceed_the_limit_in_any_window_start(
    limit: Limit, gaps: list[float]
) -> None:
    """Sliding windows bound the accepted requests in any window aligned to a fixed one, and
    in any window of the same length, by twice the limit (the estimate's known worst case)."""
    counter = MemoryCounter()
    accepted: list[float] = []
    for gap in gaps:
        counter.now += gap
        if counter.hit("k", limit).allowed:
            accepted.append(counter.now)
    for start in accepted:
        inside = [t for t in accepted if start <= t < start + limit.window_s]
        assert len(inside) <= 2 * limit.requests
    windows: dict[int, int] = {}
    for t in accepted:
        windows[int(t // limit.window_s)] = windows.get(int(t // limit.window_s), 0) + 1
    assert max(windows.values()) <= limit.requests


# --- the limiter -------------------------------------------------------------------------------


def limiter(counter: MemoryCounter, **policies: Policy) -> RateLimiter:
    return RateLimiter(counter=counter, policies=policies)


def test_each_caller_and_each_address_has_its_own_allowance() -> None:
    counter = MemoryCounter()
    rl = limiter(counter, orders=Policy(per_user=Limit(2, 60), per_ip=Limit(3, 60)))
    rl.check("orders", uid="ana", ip="10.0.0.1")
    rl.check("orders", uid="ana", ip="10.0.0.1")
    with pytest.raises(RateLimited) as caught:
        rl.check("orders", uid="ana", ip="10.0.0.2")  # another address does not help Ana
    assert caught.value.retry_after_s >= 1 and "account" in caught.value.detail
    rl.check("orders", uid="bob", ip="10.0.0.1")  # Bob shares the address: its third
    with pytest.raises(RateLimited, match="address"):
        rl.check("orders", uid="cat", ip="10.0.0.1")
    rl.check("orders", uid="cat", ip="10.0.0.9")  # Cat elsewhere is fine


def test_a_refused_request_is_not_counted() -> None:
    counter = MemoryCounter()
    rl = limiter(counter, register=Policy(per_user=None, per_ip=Limit(1, 60)))
    rl.check("register", uid=None, ip="1.2.3.4")
    for _ in range(5):
        with pytest.raises(RateLimited):
            rl.check("register", uid=None, ip="1.2.3.4")
    counter.now += 120  # two windows later the refusals left nothing behind
    rl.check("register", uid=None, ip="1.2.3.4")


def test_a_request_refused_by_its_address_is_not_counted_against_its_caller() -> None:
    counter = MemoryCounter()
    rl = limiter(counter, quote=Policy(per_user=Limit(2, 60), per_ip=Limit(1, 60)))
    rl.check("quote", uid="ana", ip="10.0.0.1")
    for _ in range(3):
        with pytest.raises(RateLimited, match="address"):
            rl.check("quote", uid="ana", ip="10.0.0.1")
    rl.check("quote", uid="ana", ip="10.0.0.2")  # Ana's second: the refusals took none


def test_a_counted_request_can_be_given_back() -> None:
    counter = MemoryCounter()
    rl = limiter(counter, codes=Policy(per_user=Limit(1, 60), per_ip=Limit(1, 60)))
    for _ in range(5):  # each taken back (a code that applied): the allowance stays whole
        rl.check("codes", uid="ana", ip="10.0.0.1").give_back()
    rl.check("codes", uid="ana", ip="10.0.0.1")
    with pytest.raises(RateLimited):
        rl.check("codes", uid="ana", ip="10.0.0.1")
    counter.alive = False
    rl.check("codes", uid="ana", ip="10.0.0.1").give_back()  # nothing counted, nothing to give


def test_a_policy_with_no_limits_and_a_counter_that_cannot_count_allow_everything() -> None:
    counter = MemoryCounter()
    rl = limiter(counter, scan=Policy(per_user=None, per_ip=None))
    for _ in range(100):
        rl.check("scan", uid="u", ip="1.1.1.1")
    counter.alive = False
    rl = limiter(counter, scan=Policy(per_user=Limit(1, 60), per_ip=Limit(1, 60)))
    for _ in range(100):
        rl.check("scan", uid="u", ip="1.1.1.1")


def test_defaults_and_overrides_from_the_environment() -> None:
    defaults = rate_policies({})
    assert set(defaults) == set(RATE_LIMIT_DEFAULTS)
    assert defaults["orders"] == Policy(per_user=Limit(10, 60), per_ip=Limit(100, 60))
    assert defaults["register"] == Policy(per_user=None, per_ip=Limit(10, 600))
    env = {"CELESTE_RATE_ORDERS_PER_USER": "3/10", "CELESTE_RATE_CATALOGUE_SCAN_PER_IP": "off"}
    changed = rate_policies(env)
    assert changed["orders"].per_user == Limit(3, 10)
    assert changed["catalogue-scan"].per_ip is None
    with pytest.raises(ValueError, match="CELESTE_RATE_REGISTER_PER_IP"):
        Settings.from_env(
            {"GCLOUD_PROJECT": "demo-celeste", "CELESTE_RATE_REGISTER_PER_IP": "lots"}
        )


# --- the HTTP hook ---------------------------------------------------------------------------

router = Router("things")
served: list[str] = []


@router.post("/", limit="orders")
def _place(ctx: RequestContext) -> Reply:
    served.append("place")
    return Reply({"ok": True}, status=201)


@router.get("/", handler_limits=("catalogue-scan",))
def _search(ctx: RequestContext) -> Reply:
    if ctx.request.args.get("scan"):
        ctx.rate_limit("catalogue-scan")
    served.append("search")
    return Reply({"ok": True})


@router.post("/codes", handler_limits=("discount-code",))
def _try_code(ctx: RequestContext) -> Reply:
    with ctx.attempt_rate_limit("discount-code", failed=lambda exc: isinstance(exc, KeyError)):
        served.append("code")
        if ctx.request.args.get("wrong"):
            raise KeyError("no such code")  # a failed attempt (a 500 here: only the count matters)
    return Reply({"ok": True})


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryCounter]:
    use_test_tokens(monkeypatch)
    counter = MemoryCounter()
    policies = {
        "orders": Policy(per_user=Limit(2, 60), per_ip=None),
        "catalogue-scan": Policy(per_user=None, per_ip=Limit(1, 60)),
        "discount-code": Policy(per_user=Limit(2, 60), per_ip=None),
    }
    use(
        Services(
            cache=Cache(client=lambda: None, ttl_s=60),
            limiter=RateLimiter(counter=counter, policies=policies),
        )
    )
    served.clear()
    yield counter
    services.reset()


def test_a_declared_limit_answers_429_with_retry_after_before_the_handler_runs(
    counter: MemoryCounter,
) -> None:
    for _ in range(2):
        assert call(router, "POST", "/", json_body={}, headers=AS_CUSTOMER).status_code == 201
    refused = call(router, "POST", "/", json_body={}, headers=AS_CUSTOMER)
    problem = assert_problem(refused, 429)
    assert problem["type"].endswith("/rate-limited")
    assert int(refused.headers["Retry-After"]) >= 1
    assert served == ["place", "place"]


def test_a_handler_limits_only_the_expensive_requests_per_forwarded_address(
    counter: MemoryCounter,
) -> None:
    first = {"X-Forwarded-For": "198.51.100.7"}
    assert call(router, "GET", "/?scan=1", headers=first).status_code == 200
    assert_problem(call(router, "GET", "/?scan=1", headers=first), 429)
    # The client's own claims left of the trusted entry do not buy a fresh allowance.
    spoofed = {"X-Forwarded-For": "203.0.113.1, 198.51.100.7"}
    assert_problem(call(router, "GET", "/?scan=1", headers=spoofed), 429)
    other = {"X-Forwarded-For": "198.51.100.8"}
    assert call(router, "GET", "/?scan=1", headers=other).status_code == 200
    for _ in range(5):  # cheap requests are never limited
        assert call(router, "GET", "/", headers=first).status_code == 200
    assert len(served) == 7


def test_only_failed_attempts_use_the_allowance_and_past_it_every_attempt_is_refused(
    counter: MemoryCounter,
) -> None:
    for _ in range(5):
        assert call(router, "POST", "/codes", json_body={}, headers=AS_CUSTOMER).status_code == 200
    for _ in range(2):
        wrong = call(router, "POST", "/codes?wrong=1", json_body={}, headers=AS_CUSTOMER)
        assert wrong.status_code == 500
    for path in ("/codes?wrong=1", "/codes"):  # a right attempt too: no oracle past the limit
        refused = call(router, "POST", path, json_body={}, headers=AS_CUSTOMER)
        assert_problem(refused, 429)
        assert int(refused.headers["Retry-After"]) >= 1
    assert served == ["code"] * 7
