"""The in-process rate limiter: a sliding window per key, in bounded memory."""

from __future__ import annotations

from scheduler.web.ratelimit import RateLimiter


def test_sliding_window_per_key() -> None:
    """`limit` hits per window; a hit leaves the window `per_s` seconds later."""
    rl = RateLimiter()
    assert [rl.hit("a", 2, 10, now=t) for t in (0, 1, 2)] == [True, True, False]
    assert rl.hit("b", 2, 10, now=2)  # another key has its own window
    assert not rl.hit("a", 2, 10, now=9.9)
    assert rl.hit("a", 2, 10, now=10.5)  # the hit at 0 has left the window


def test_memory_stays_bounded_when_many_clients_come_once() -> None:
    """Many addresses seen once (a scan, many proxies) do not grow the table past its
    bound: idle keys are forgotten first, active ones keep their counts."""
    rl = RateLimiter(max_keys=100)
    assert rl.hit("busy", 2, 60, now=0) and rl.hit("busy", 2, 60, now=0)
    for i in range(99):
        rl.hit(f"once-{i}", 2, 1, now=0)
    assert len(rl) == 100
    for i in range(1000):  # one-second windows: most earlier ones are idle by the time
        rl.hit(f"later-{i}", 2, 1, now=5 + i * 0.05)
        assert len(rl) <= 100
    assert not rl.hit("busy", 2, 60, now=50)  # still counted: it was never idle


def test_when_every_key_is_active_the_oldest_half_goes() -> None:
    rl = RateLimiter(max_keys=10)
    for i in range(10):
        rl.hit(f"k{i}", 5, 3600, now=i)
    rl.hit("new", 5, 3600, now=20)
    assert len(rl) <= 10
    assert rl.hit("k9", 1, 3600, now=21) is False  # recent keys kept their hits
