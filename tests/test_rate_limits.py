"""The counting behind every 429: a sliding window, and work in progress."""

from __future__ import annotations

import pytest

from openplug.errors import TooManyRequests
from openplug.rate_limits import ConcurrentLimit, SlidingWindowLimit


def test_admit_counts_the_attempt_before_its_work_runs() -> None:
    limit = SlidingWindowLimit(2, 3600)
    limit.admit("a", "full")
    limit.admit("a", "full")
    # Two still running (nothing recorded after them): the third is refused.
    with pytest.raises(TooManyRequests) as refused:
        limit.admit("a", "full")
    assert refused.value.message == "full"
    assert 60 < refused.value.retry_after <= 3600  # the window, not a second
    limit.admit("b", "full")  # keys count apart


def test_forget_uncounts_one_admitted_attempt() -> None:
    limit = SlidingWindowLimit(2, 3600)
    first = limit.admit("a", "full")
    limit.admit("a", "full")
    limit.forget("a", first)
    limit.admit("a", "full")
    with pytest.raises(TooManyRequests):
        limit.check("a", "full")
    limit.forget("unknown", first)  # nothing to forget: no error


def test_a_limit_of_zero_is_no_limit() -> None:
    limit = SlidingWindowLimit(0, 3600)
    for _ in range(5):
        limit.admit("a", "full")


def test_concurrent_limit_refuses_one_more_than_allowed_at_once() -> None:
    limit = ConcurrentLimit(2)
    with limit.hold("a", "busy"), limit.hold("a", "busy"):
        with pytest.raises(TooManyRequests) as refused, limit.hold("a", "busy"):
            pass
        assert refused.value.retry_after == 1
        with limit.hold("b", "busy"):
            pass
    # Released on the way out, an exception included.
    with pytest.raises(ValueError), limit.hold("a", "busy"), limit.hold("a", "busy"):
        raise ValueError
    with limit.hold("a", "busy"), limit.hold("a", "busy"):
        pass
