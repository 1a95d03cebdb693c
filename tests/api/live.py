"""Helpers for tests that talk to a live server over HTTP, as an integrator would."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any


def fetch_token(base_url: str, client_id: str, client_secret: str) -> str:
    """POST /o/token/ (client credentials, form-encoded): the Bearer token."""
    body = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
    ).encode()
    request = urllib.request.Request(f"{base_url}/o/token/", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.load(response)
    assert answer["token_type"] == "Bearer", answer
    return answer["access_token"]


def fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)
