"""Our OpenAPI documents are valid OpenAPI 3.1."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate

SPECS = sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.yaml"))


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_spec_is_valid(path: Path) -> None:
    validate(yaml.safe_load(path.read_text()))
