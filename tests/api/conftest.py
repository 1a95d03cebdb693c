"""The API as a product: schema, generated client, read-only clients, the integrators' guide."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Slow but part of every run (`-m "not slow"` leaves them out when iterating).
    config.addinivalue_line("markers", "slow: slow but included in the suite (a generator, a live server)")
