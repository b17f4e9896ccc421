"""Home-visit booking: one set of rules for every channel (web, relative, staff by phone).

Where each rule lives:

| module | decides |
| --- | --- |
| `intake` | pure field checks of a request (ID number, phones, text without hidden characters) |
| `eligibility` | who qualifies (the county's rules), the nearest office for who does not |
| `dates` | cut-off, bookable range, visit hours of a half-day, stored/shown times |
| `capacity` | places per zone, half-day and skill: the guarded UPDATE, the rule, shifts |
| `operations` | create, cancel, move, confirm, schedule, finish |
| `lookup` | a resident's look-up and its lock-out; staff search and lists |
| `audit` | the actor and the event trail |
| `retention` | erasing personal data and stored answers after their time |
| `places` | where an address is (geocoder, remembered) |
| `service` | `BookingService`: catalog + settings + keys, the operations as methods |

Every operation takes a Session (`create` also a Core Connection) and `now`, and never
commits. Presentation (what a page or an answer shows) lives in `scheduler.web.present`.
"""

from __future__ import annotations

from scheduler.booking.audit import RESIDENT_WEB, SYSTEM, Actor
from scheduler.booking.capacity import (
    CapacityRule,
    Db,
    PerClerk,
    Places,
    SlotView,
    add_shift,
    ensure_zones,
    sync_day,
)
from scheduler.booking.dates import local_date, to_local, utc_naive
from scheduler.booking.lookup import NOT_FOUND_ZH, WrongPhoneSuffix, by_reference
from scheduler.booking.lookup import lookup as look_up
from scheduler.booking.operations import (
    UNIQUE_REFERENCE,
    cancel,
    confirm,
    create,
    finish,
    move,
    schedule,
)
from scheduler.booking.places import GEOCODER_RETRY_S, MAX_PLACES_REMEMBERED
from scheduler.booking.retention import PURGED, purge_finished, purge_idempotency
from scheduler.booking.service import BookingService

__all__ = [
    "GEOCODER_RETRY_S",
    "MAX_PLACES_REMEMBERED",
    "NOT_FOUND_ZH",
    "PURGED",
    "RESIDENT_WEB",
    "SYSTEM",
    "UNIQUE_REFERENCE",
    "Actor",
    "BookingService",
    "CapacityRule",
    "Db",
    "PerClerk",
    "Places",
    "SlotView",
    "WrongPhoneSuffix",
    "add_shift",
    "by_reference",
    "cancel",
    "confirm",
    "create",
    "ensure_zones",
    "finish",
    "local_date",
    "look_up",
    "move",
    "purge_finished",
    "purge_idempotency",
    "schedule",
    "sync_day",
    "to_local",
    "utc_naive",
]
