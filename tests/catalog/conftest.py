"""Catalog fixtures: a second vendor, and uploads kept in a temporary media folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Party, _party
from tests.factories import VendorFactory


@pytest.fixture
def orbit(db: None) -> Party:
    """Another vendor: Orbit Health, which must never see or touch Radiant's drafts."""
    return _party(VendorFactory(name="Orbit Health", slug="orbit-health"))


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> Path:
    """Uploads of this test land in its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
