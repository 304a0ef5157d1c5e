"""Which G-Staff clients match a 法人番号, a company name and a phone number.

Shared by the live client (which asks the G-Staff service for broad candidates and narrows
them here) and the fake (which narrows its own clients here), so both answer the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from connectors.gstaff.interface import ClientSummary, MatchKind
from mappings.normalize import (
    InvalidCorporateNumber,
    check_corporate_number,
    company_core_name,
    company_key,
    phone_key,
)


@dataclass(frozen=True)
class ClientQuery:
    """What we search by, already normalised ("" when unknown or unusable)."""

    corporate_number: str = ""  # 13 digits with a valid check digit
    name_key: str = ""
    core_name: str = ""  # sent to the G-Staff service as its "contains" search term
    phone: str = ""  # digits only

    @classmethod
    def of(cls, *, corporate_number: str = "", name: str = "", phone: str = "",
           name_key: Callable[[str], str] = company_key,
           phone_key_of: Callable[[str], str] = phone_key) -> "ClientQuery":
        try:
            number = check_corporate_number(corporate_number) if corporate_number else ""
        except InvalidCorporateNumber:
            number = ""  # an invalid number matches nothing; the flow tells the person first
        return cls(number, name_key(name) if name else "", company_core_name(name), phone_key_of(phone))

    @property
    def is_empty(self) -> bool:
        return not (self.corporate_number or self.name_key or self.phone)


def match_clients(query: ClientQuery, clients: Iterable[ClientSummary],
                  name_key: Callable[[str], str] = company_key,
                  phone_key_of: Callable[[str], str] = phone_key) -> list[ClientSummary]:
    """The clients that match ``query``, strongest first, each with ``matched_by`` set."""
    by_number, by_name_and_phone, by_name = [], [], []
    for client in clients:
        number = client.corporate_number.strip()
        if query.corporate_number and number == query.corporate_number:
            by_number.append(replace(client, matched_by=MatchKind.CORPORATE_NUMBER))
            continue
        if query.corporate_number and number:
            continue  # another 法人番号: another legal entity, whatever its name
        if not query.name_key or name_key(client.name) != query.name_key:
            continue
        if query.phone and phone_key_of(client.phone) == query.phone:
            by_name_and_phone.append(replace(client, matched_by=MatchKind.NAME_AND_PHONE))
        else:
            by_name.append(replace(client, matched_by=MatchKind.NAME))
    if by_number:
        return by_number
    return by_name_and_phone + by_name
