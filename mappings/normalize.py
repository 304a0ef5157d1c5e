"""Normalisation used to match clients across kintone and G-Staff (seed A-1).

People type the same company in many ways: ``㈱サンプル物流``, ``（株）サンプル物流``,
``株式会社　サンプル物流``; phone numbers with full-width digits and any of a dozen dash-like
characters; the 法人番号 (corporate number) with spaces or hyphens. These pure functions turn
each into one comparable form. No I/O.

- ``normalize_company_name``: NFKC, the abbreviated legal-entity forms written out
  (``(株)``/``㈱`` → 株式会社, ``(有)``/``㈲`` → 有限会社, and 合同・合資・合名会社), spaces
  around them dropped, other runs of spaces collapsed. What we register in G-Staff.
- ``company_core_name``: the name without its legal-entity form, for searching.
- ``company_key``: the core name without any spaces and case-folded, for comparing. Two names
  with the same key may still be two companies (the same 商号 may exist at different
  addresses, and 株式会社A and 有限会社A are different entities): a key match alone is a
  candidate for a person to confirm, never proof.
- ``phone_key``: the digits of a phone number, ``+81`` written as the domestic ``0``;
  ``normalize_phone``: the number as we register it (ASCII digits, plain hyphens).
- ``check_corporate_number``: the 13-digit 法人番号 with its check digit verified
  (国税庁's rule: check digit = 9 − (Σ Pn·Qn mod 9) over the 12 base digits counted from the
  lowest, Qn = 1 for odd n and 2 for even n).
"""

from __future__ import annotations

import re
import unicodedata

# Legal-entity forms: (full form, abbreviation inside brackets). NFKC already turns ㈱ into
# "(株)", ㈲ into "(有)", ㈾ into "(資)", ㈴ into "(名)", and full-width brackets into ASCII.
LEGAL_FORMS: tuple[tuple[str, str], ...] = (
    ("株式会社", "株"),
    ("有限会社", "有"),
    ("合同会社", "同"),
    ("合資会社", "資"),
    ("合名会社", "名"),
)
_ABBREVIATED = {abbr: full for full, abbr in LEGAL_FORMS}
_ABBREVIATION = re.compile(r"\(\s*(" + "|".join(_ABBREVIATED) + r")\s*\)")
_FULL_FORM = re.compile(r"\s*(" + "|".join(full for full, _ in LEGAL_FORMS) + r")\s*")
_SPACES = re.compile(r"\s+")

# Characters people type between the parts of a phone number. NFKC maps the full-width
# hyphen-minus (U+FF0D) to "-" but leaves these alone. The katakana long-vowel marks are a
# common slip of the Japanese keyboard in phone numbers.
_PHONE_SEPARATORS = set(" -()‐‑‒–—―−ー─━ｰ.")
_DASHES = set("-‐‑‒–—―−ー─━ｰ")
# Between the digits of a 法人番号: spaces and hyphens only.
_NUMBER_SEPARATORS = set(" -‐‑‒–—―−ー")
_DIGITS = set("0123456789")

CORPORATE_NUMBER_LENGTH = 13


def nfkc(text: str | None) -> str:
    """Unicode NFKC: full-width letters and digits to ASCII, half-width katakana to full-width."""
    return unicodedata.normalize("NFKC", text or "")


def name_key(text: str | None) -> str:
    """A comparison key for a name as people type it (a 事業所, a 組織単位, a person): NFKC, no white space."""
    return _SPACES.sub("", nfkc(text))


def normalize_company_name(name: str | None) -> str:
    """The company name as we register it: NFKC, legal-entity forms written out, tidy spaces."""
    text = _ABBREVIATION.sub(lambda m: _ABBREVIATED[m.group(1)], nfkc(name))
    text = _FULL_FORM.sub(lambda m: m.group(1), text)  # no spaces around 株式会社 etc.
    return _SPACES.sub(" ", text).strip()


def company_core_name(name: str | None) -> str:
    """The company name without its legal-entity form (株式会社サンプル物流 → サンプル物流)."""
    text = _FULL_FORM.sub(" ", normalize_company_name(name))
    return _SPACES.sub(" ", text).strip()


def company_key(name: str | None) -> str:
    """A comparison key: the core name without spaces, case-folded."""
    return "".join(company_core_name(name).split()).casefold()


def phone_key(phone: str | None) -> str:
    """Only the digits of a phone number; an international +81 number in its domestic form.

    Returns "" when the text holds anything besides digits and separators (an e-mail address
    typed into the phone field, a 内線 note), because such a key would match the wrong thing.
    """
    text = nfkc(phone).strip()
    if text.startswith("+81"):
        text = "0" + text[3:].lstrip(" -()").removeprefix("0")
    digits = []
    for ch in text:
        if ch in _DIGITS:
            digits.append(ch)
        elif ch not in _PHONE_SEPARATORS:
            return ""
    return "".join(digits)


def normalize_phone(phone: str | None) -> str:
    """The phone number as we register it: ASCII digits, "-" for every dash; "" when it is not one."""
    if not phone_key(phone):
        return ""
    text = "".join("-" if ch in _DASHES else ch for ch in nfkc(phone).strip())
    return _SPACES.sub(" ", text)


class InvalidCorporateNumber(ValueError):
    """A 法人番号 that cannot be right. ``reason`` is ``not_13_digits`` or ``check_digit``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def corporate_number_check_digit(base: str) -> int:
    """The check digit for the 12 base digits of a 法人番号."""
    if len(base) != CORPORATE_NUMBER_LENGTH - 1 or not set(base) <= _DIGITS:
        raise ValueError("the base of a 法人番号 is 12 digits")
    total = sum(int(p) * (1 if n % 2 else 2) for n, p in enumerate(reversed(base), start=1))
    return 9 - total % 9


def check_corporate_number(raw: str | None) -> str:
    """The 法人番号 as 13 ASCII digits; raises InvalidCorporateNumber when it cannot be valid.

    Spaces and hyphens between digits are dropped and full-width digits accepted. An empty
    value is not checked here: callers decide whether the number is required.
    """
    text = "".join(ch for ch in nfkc(raw) if ch not in _NUMBER_SEPARATORS)
    if len(text) != CORPORATE_NUMBER_LENGTH or not set(text) <= _DIGITS:
        raise InvalidCorporateNumber("not_13_digits")
    if int(text[0]) != corporate_number_check_digit(text[1:]):
        raise InvalidCorporateNumber("check_digit")
    return text


def is_valid_corporate_number(raw: str | None) -> bool:
    try:
        check_corporate_number(raw)
    except InvalidCorporateNumber:
        return False
    return True
