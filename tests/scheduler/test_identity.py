"""ID numbers, ages, mobile numbers, masks and reference codes."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler import identity
from scheduler.identity import IdentityError

TODAY = date(2026, 6, 1)


def test_standard_example_is_valid() -> None:
    """The GB 11643 example 11010519491231002X passes, with its birth date read out."""
    idn = identity.parse_id_number("11010519491231002X", today=TODAY)
    assert idn.birth_date == date(1949, 12, 31)
    assert idn.value == "11010519491231002X"


def test_lower_case_x_is_accepted_and_stored_upper() -> None:
    """A lower-case x check character is accepted and normalised to X."""
    assert identity.parse_id_number("11010519491231002x", today=TODAY).value.endswith("X")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("110105194912310021", "id_checksum"),
        ("11010519491231002", "id_format"),
        ("1101051949123100X2", "id_format"),
        ("000105194912310028", "id_region"),
        ("110105194902300028", "id_birth_date"),
        ("110105203001010028", "id_birth_date"),
    ],
)
def test_bad_id_numbers_are_rejected_with_a_reason(raw: str, code: str) -> None:
    """Wrong check char, length, province, impossible or future birth dates are refused."""
    with pytest.raises(IdentityError) as err:
        identity.parse_id_number(raw, today=TODAY)
    assert err.value.code == code
    assert err.value.message_zh


@given(st.dates(min_value=date(1900, 1, 1), max_value=TODAY), st.integers(0, 999))
def test_any_generated_number_round_trips(birth: date, seq: int) -> None:
    """Every number built with the MOD 11-2 check passes and yields its birth date."""
    first17 = f"331126{birth:%Y%m%d}{seq:03d}"
    idn = identity.parse_id_number(first17 + identity.check_char(first17), today=TODAY)
    assert idn.birth_date == birth


@given(st.dates(min_value=date(1900, 1, 1), max_value=TODAY), st.integers(0, 999))
def test_one_changed_digit_is_always_detected(birth: date, seq: int) -> None:
    """Changing the last body digit always breaks the check (MOD 11-2 catches single errors)."""
    first17 = f"331126{birth:%Y%m%d}{seq:03d}"
    changed = first17[:16] + str((int(first17[16]) + 1) % 10)
    with pytest.raises(IdentityError):
        identity.parse_id_number(changed + identity.check_char(first17), today=TODAY)


@pytest.mark.parametrize(
    ("birth", "today", "age"),
    [
        (date(1946, 6, 1), date(2026, 6, 1), 80),
        (date(1946, 6, 2), date(2026, 6, 1), 79),
        (date(1944, 2, 29), date(2025, 2, 28), 80),
        (date(1944, 2, 29), date(2025, 3, 1), 81),
        (date(1944, 2, 29), date(2024, 2, 29), 80),
        (date(1944, 2, 29), date(2024, 2, 28), 79),
    ],
)
def test_age_in_full_years(birth: date, today: date, age: int) -> None:
    """Full years count from the birthday; a 29 February birthday falls on 1 March otherwise."""
    assert identity.age_on(birth, today) == age


@pytest.mark.parametrize(
    "raw", ["13905781234", "+86 139 0578 1234", "0086-13905781234", "19905781234"]
)
def test_mainland_mobiles_are_normalised(raw: str) -> None:
    """Prefixes +86/0086, spaces and hyphens are removed."""
    assert identity.normalize_mobile(raw) in {"13905781234", "19905781234"}


@pytest.mark.parametrize(
    "raw", ["12905781234", "1390578123", "139057812345", "0578-6120000", "+85291234567", "abc"]
)
def test_non_mainland_mobiles_are_rejected(raw: str) -> None:
    """Landlines, Hong Kong numbers, wrong lengths and a second digit below 3 are refused."""
    with pytest.raises(IdentityError):
        identity.normalize_mobile(raw)


FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def test_only_ascii_digits_count_as_digits() -> None:
    """Full-width digits are refused: stored they would dodge the duplicate rule and look-up."""
    with pytest.raises(IdentityError) as err:
        identity.parse_id_number("11" + "010519491231002".translate(FULL_WIDTH) + "X", today=TODAY)
    assert err.value.code == "id_format"
    with pytest.raises(IdentityError):
        identity.normalize_mobile("139" + "05781234".translate(FULL_WIDTH))


def test_masks() -> None:
    """ID keeps its first 4 characters only, phone 3+4, name the first character."""
    assert identity.mask_id("33112619400305123X") == "3311**************"
    assert identity.mask_phone("13812341234") == "138****1234"
    assert identity.mask_name("吴秀英") == "吴**"
    assert identity.mask_name("李") == "李*"


def test_references_are_crockford_and_forgiving() -> None:
    """References use Crockford base32; O, I, L and hyphens are read as 0, 1, 1 and ignored."""
    ref = identity.new_reference()
    assert len(ref) == 8 and set(ref) <= set(identity.CROCKFORD)
    assert identity.normalize_reference("abcd-efgo") == "ABCDEFG0"
    assert identity.normalize_reference("ilo00000") == "11000000"
    assert identity.normalize_reference("ABCDEFGU") is None
    assert identity.normalize_reference("ABC") is None


def test_age_bands() -> None:
    """Bands are decades, with 90+ at the top."""
    assert identity.age_band(85) == "80-89"
    assert identity.age_band(93) == "90+"
