"""Idempotency-Key handling for POSTs: one booking per key, the same answer on every retry.

The key is claimed by inserting its row inside the request's own transaction, so a
concurrent duplicate waits on the unique key (PostgreSQL) or on the write lock
(SQLite) and then reads the stored answer. A failed request leaves no row: a retry
runs again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from scheduler.booking import Db, utc_naive
from scheduler.errors import InvalidField
from scheduler.models import IdempotencyRecord

MAX_KEY_LEN = 100
_KEYS: Table = IdempotencyRecord.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Replay:
    status_code: int
    body: dict[str, Any]


def check_key(key: str, *, prefix: str = "") -> str:
    """The stored key: `prefix` + the checked key, within the column's MAX_KEY_LEN."""
    key = key.strip()
    longest = MAX_KEY_LEN - len(prefix)
    if not 1 <= len(key) <= longest or not key.isascii() or not key.isprintable():
        raise InvalidField(
            f"Idempotency-Key 应为1至{longest}个可打印ASCII字符。",
            field="Idempotency-Key",
            code="bad_idempotency_key",
        )
    return prefix + key


def claim(db: Db, key: str, request_hash: str, now: datetime) -> Replay | None:
    """Claim `key` for this request, or return the stored answer of an earlier one."""
    for _ in range(2):
        existing = db.execute(
            select(_KEYS.c.request_hash, _KEYS.c.status_code, _KEYS.c.response).where(
                _KEYS.c.key == key
            )
        ).first()
        if existing is not None:
            if existing.request_hash != request_hash:
                raise InvalidField(
                    "同一个 Idempotency-Key 不能用于不同的请求内容。",
                    field="Idempotency-Key",
                    code="idempotency_key_reused",
                )
            return Replay(existing.status_code, json.loads(existing.response))
        try:
            with db.begin_nested():
                db.execute(
                    insert(_KEYS).values(
                        key=key,
                        request_hash=request_hash,
                        status_code=0,
                        response="",
                        created_at=utc_naive(now),
                    )
                )
            return None
        except IntegrityError:
            continue  # another request committed this key meanwhile: read its answer
    raise RuntimeError("idempotency key neither claimable nor readable")


def store(db: Db, key: str, status_code: int, body: dict[str, Any]) -> None:
    stored: CursorResult[Any] = db.execute(  # type: ignore[assignment]
        update(_KEYS)
        .where(_KEYS.c.key == key)
        .values(
            status_code=status_code, response=json.dumps(body, ensure_ascii=False, sort_keys=True)
        )
    )
    assert stored.rowcount == 1, "store() without claim()"
