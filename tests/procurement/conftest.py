"""Procurement fixtures: a second vendor."""

from __future__ import annotations

import pytest

from tests.conftest import Party, _party
from tests.factories import VendorFactory


@pytest.fixture
def orbit(db: None) -> Party:
    """Another vendor: Orbit Health, which must never see Radiant's trials or deployments."""
    return _party(VendorFactory(name="Orbit Health", slug="orbit-health"))
