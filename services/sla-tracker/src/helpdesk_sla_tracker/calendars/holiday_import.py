"""A country's public holidays, from the ``holidays`` library, as one-off calendar dates."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import holidays


class UnknownCountryError(ValueError):
    """The country (or its subdivision) is not one the ``holidays`` library knows."""


@dataclass(frozen=True, slots=True)
class PublicHoliday:
    day: date
    name: str


def public_holidays(
    country: str, years: Iterable[int], subdivision: str | None = None
) -> list[PublicHoliday]:
    """The public holidays of ``country`` (ISO 3166-1 alpha-2) in ``years``, by date."""
    try:
        found = holidays.country_holidays(country.upper(), subdiv=subdivision, years=list(years))
    except NotImplementedError as error:
        raise UnknownCountryError(
            f"no public holidays are known for country {country!r}"
        ) from error
    return sorted(
        (PublicHoliday(day=day, name=name) for day, name in found.items()), key=lambda h: h.day
    )
