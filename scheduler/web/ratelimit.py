"""Rate limits of the web edge: the shared counter (`scheduler.limits`) keyed by the
client's address."""

from __future__ import annotations

from flask import request

from scheduler.limits import RateLimiter

__all__ = ["RateLimiter", "client_key"]


def client_key(bucket: str) -> str:
    """The bucket of this request's client: its address as ProxyFix leaves it (the
    client's, behind the configured number of trusted proxies)."""
    return f"{bucket}:{request.remote_addr or '-'}"
