"""Who is calling: the identity the gateway attaches to every authenticated request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mep.core.tokens import CallerKind


@dataclass(frozen=True)
class Principal:
    kind: CallerKind
    subject: str
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def is_operator(self) -> bool:
        return self.kind is CallerKind.OPERATOR


OPERATOR = Principal(CallerKind.OPERATOR, "operator")
