"""Tariffs: what the operator charges per call and per megabyte of one service API.

Amounts are decimal strings (``"0.002"``) so that no price is ever rounded by binary floating
point; charges are computed with :class:`decimal.Decimal`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from mep.core.models import StrictApiModel
from mep.core.store import Delete, Put, Store

COLLECTION = "charging_tariffs"
MEGABYTE = Decimal(1_000_000)
#: Charges are kept to this many decimal places.
PRECISION = Decimal("0.000001")
_AMOUNT = re.compile(r"\d{1,12}(\.\d{1,6})?")


def _amount(value: str) -> str:
    # Plain decimals only: no sign, exponent or separators, so what is stored is what was
    # given, and bounded so that every charge fits Decimal's default precision.
    if not _AMOUNT.fullmatch(value):
        raise ValueError("must be a decimal number such as 0.002: up to 12 digits, 6 decimals")
    return value


Amount = Annotated[str, Field(max_length=19), AfterValidator(_amount)]


class TariffRequest(StrictApiModel):
    per_call: Amount = "0"
    per_megabyte: Amount = "0"
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


@dataclass(frozen=True, slots=True)
class Tariff:
    api_id: str
    api_name: str
    per_call: Decimal
    per_megabyte: Decimal
    currency: str

    def charge(self, calls: int, octets: int) -> Decimal:
        amount = self.per_call * calls + self.per_megabyte * Decimal(octets) / MEGABYTE
        return amount.quantize(PRECISION)

    def to_json(self) -> dict[str, Any]:
        return {
            "apiId": self.api_id,
            "apiName": self.api_name,
            "perCall": str(self.per_call),
            "perMegabyte": str(self.per_megabyte),
            "currency": self.currency,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tariff:
        return cls(
            data["apiId"],
            data["apiName"],
            Decimal(data["perCall"]),
            Decimal(data["perMegabyte"]),
            data["currency"],
        )


class Tariffs:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def all(self) -> dict[str, Tariff]:
        found: dict[str, Tariff] = {}
        after: str | None = None
        while page := await self._store.scan(COLLECTION, after=after):
            found.update((d.id, Tariff.from_json(d.data)) for d in page)
            after = page[-1].id
        return found

    async def get(self, api_id: str) -> Tariff | None:
        doc = await self._store.get(COLLECTION, api_id)
        return None if doc is None else Tariff.from_json(doc.data)

    async def put(self, api_id: str, api_name: str, request: TariffRequest) -> tuple[Tariff, bool]:
        tariff = Tariff(
            api_id,
            api_name,
            Decimal(request.per_call),
            Decimal(request.per_megabyte),
            request.currency,
        )
        (version,) = await self._store.commit([Put(COLLECTION, api_id, tariff.to_json())])
        return tariff, version == 1  # a document's first write is its version 1

    async def delete(self, api_id: str) -> bool:
        if await self._store.get(COLLECTION, api_id) is None:
            return False
        await self._store.commit([Delete(COLLECTION, api_id)])
        return True
