"""The admin ``If-Match`` write helper: early 412, one attempt when pinned, retries otherwise."""

from __future__ import annotations

import pytest

from celeste.kernel.errors import Contention, PreconditionFailed, Unavailable
from celeste.kernel.versions import Versioned
from celeste.services.retry import Backoff, optimistic
from celeste.services.versioned import versioned_write

FAST = Backoff(attempts=5, base_s=0.0, cap_s=0.0, budget_s=60.0)


def _run(expected: str | None, *, lose: int) -> tuple[str, list[str]]:
    """Write over a store whose version moves ``lose`` times before a write commits."""
    versions = iter(["v1", "v2", "v3", "v4"])
    writes: list[str] = []

    def write(current: Versioned[str]) -> str:
        writes.append(current.version)
        if len(writes) <= lose:
            raise PreconditionFailed("moved")
        return f"wrote over {current.version}"

    result = versioned_write(
        lambda: Versioned(value="x", version=next(versions)),
        write,
        expected_version=expected,
        subject="thing 7",
        what="updating thing 7",
        backoff=FAST,
        sleep=lambda _s: None,
    )
    return result, writes


def test_unpinned_write_reads_again_after_a_lost_race() -> None:
    assert _run(None, lose=2) == ("wrote over v3", ["v1", "v2", "v3"])


def test_pinned_write_matching_commits_once() -> None:
    assert _run("v1", lose=0) == ("wrote over v1", ["v1"])


def test_pinned_write_naming_another_version_is_412_before_writing() -> None:
    with pytest.raises(PreconditionFailed, match="thing 7 changed since it was read"):
        _run("v0", lose=0)


def test_pinned_write_that_loses_the_race_is_412_not_retried() -> None:
    with pytest.raises(PreconditionFailed, match="moved"):
        _run("v1", lose=1)


def test_a_dependency_down_after_the_commit_goes_to_the_caller_not_retried() -> None:
    """``Unavailable`` (e.g. a commit whose cached copies could not be retired) is no lost race:
    writing again would write twice, or answer 409 for a create that did happen."""
    writes: list[str] = []

    def write(current: Versioned[str]) -> str:
        writes.append(current.version)
        raise Unavailable("saved, but cached copies could not be retired yet: send it again")

    with pytest.raises(Unavailable):
        versioned_write(
            lambda: Versioned(value="x", version="v1"),
            write,
            expected_version=None,
            subject="thing 7",
            what="updating thing 7",
            backoff=FAST,
            sleep=lambda _s: None,
        )
    assert writes == ["v1"]


def test_a_busy_database_is_still_a_lost_race() -> None:
    attempts: list[int] = []

    def attempt() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise Contention("the database is busy; retry shortly")
        return "done"

    assert optimistic(attempt, backoff=FAST, what="x", sleep=lambda _s: None) == "done"
    assert len(attempts) == 3
