"""Pure rules for resident identifiers: ID numbers, mobile numbers, masks, reference codes.

No database, no clock: callers pass the date they mean.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date

# GB 11643-1999, check character by ISO 7064 MOD 11-2.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
# First two digits of GB/T 2260 province-level codes (incl. 71/81/82 for Taiwan, HK, Macao).
_PROVINCES = frozenset(
    (
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
        "83",
    )
)
# ASCII only: `\d` alone also matches full-width and other Unicode digits, which int()
# reads but which would be stored, hashed and masked in a second spelling.
_ID_RE = re.compile(r"^\d{17}[\dX]$", re.ASCII)
_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$", re.ASCII)

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_LEN = 8
# Crockford decoding: letters people confuse map to the digit they resemble.
_CROCKFORD_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})


class IdentityError(ValueError):
    """An identifier is malformed; `code` is machine-readable, `message_zh` for the resident."""

    def __init__(self, code: str, message_zh: str) -> None:
        super().__init__(code)
        self.code = code
        self.message_zh = message_zh


@dataclass(frozen=True, slots=True)
class IdNumber:
    """A checked 18-character 居民身份证号码 (upper-case X) and what it says."""

    value: str
    birth_date: date

    @property
    def masked(self) -> str:
        return mask_id(self.value)


def check_char(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def parse_id_number(raw: str, *, today: date) -> IdNumber:
    """Validate an 18-character ID number: format, province, real past birth date, check char."""
    value = raw.strip().upper()
    if not _ID_RE.match(value):
        raise IdentityError("id_format", "身份证号码应为18位，最后一位可以是数字或X。")
    if value[:2] not in _PROVINCES:
        raise IdentityError("id_region", "身份证号码的前两位不是有效的省份代码，请核对。")
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise IdentityError("id_birth_date", "身份证号码中的出生日期不存在，请核对。") from None
    if birth > today or birth.year < 1890:
        raise IdentityError("id_birth_date", "身份证号码中的出生日期不可能，请核对。")
    if check_char(value[:17]) != value[17]:
        raise IdentityError("id_checksum", "身份证号码校验位不正确，请逐位核对。")
    return IdNumber(value, birth)


def age_on(birth: date, today: date) -> int:
    """Full years (周岁) on `today`; a 29 February birthday falls on 1 March in other years."""
    years = today.year - birth.year
    if (today.month, today.day) < (birth.month, birth.day):
        years -= 1
    return years


def age_band(age: int) -> str:
    """A coarse band kept instead of the birth date where the exact age is not needed."""
    if age >= 90:
        return "90+"
    low = age // 10 * 10
    return f"{low}-{low + 9}"


def normalize_mobile(raw: str) -> str:
    """A mainland mobile number as 11 digits; accepts +86 / 0086, spaces and hyphens."""
    digits = re.sub(r"[\s-]", "", raw.strip())
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not _MOBILE_RE.match(digits):
        raise IdentityError("phone_format", "请填写11位中国大陆手机号码（1开头）。")
    return digits


def mask_id(value: str) -> str:
    """`3311**************`: the province and city prefix only.

    Birth date, serial and check character are hidden: with the age band stored beside
    it, millions of ID numbers fit the stored columns (keeping the last four as well
    would leave a few dozen with the exact age).
    """
    return value[:4] + "*" * (len(value) - 4)


def mask_phone(value: str) -> str:
    """`138****1234`."""
    return value[:3] + "****" + value[-4:]


def mask_name(value: str) -> str:
    """`张*` / `欧阳**`: the first character only."""
    value = value.strip()
    return value[:1] + "*" * max(len(value) - 1, 1)


def new_reference() -> str:
    """A random 8-character Crockford base32 reference (40 bits)."""
    bits = secrets.randbits(5 * REFERENCE_LEN)
    return "".join(CROCKFORD[(bits >> (5 * i)) & 31] for i in range(REFERENCE_LEN))


def normalize_reference(raw: str) -> str | None:
    """A typed reference in canonical form, or None when it cannot be one."""
    text = re.sub(r"[\s-]", "", raw).upper().translate(_CROCKFORD_ALIASES)
    if len(text) != REFERENCE_LEN or any(c not in CROCKFORD for c in text):
        return None
    return text
