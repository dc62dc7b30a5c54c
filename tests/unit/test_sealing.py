"""Binding secrets sealed at rest."""

from __future__ import annotations

import pytest

from broker.sealing import Sealer, SealError


def test_a_sealed_value_opens_only_with_its_key_and_its_document() -> None:
    sealer = Sealer(b"k" * 32)
    sealed = sealer.seal(b"p@ss", "doc-1")
    assert b"p@ss" not in sealed.encode()
    assert sealer.open(sealed, "doc-1") == b"p@ss"
    assert sealer.seal(b"p@ss", "doc-1") != sealed  # a fresh nonce every time
    with pytest.raises(SealError):
        sealer.open(sealed, "doc-2")  # moved to another binding
    with pytest.raises(SealError):
        Sealer(b"x" * 32).open(sealed, "doc-1")
    with pytest.raises(SealError):
        sealer.open("p@ss", "doc-1")
