"""docs/integrators.md stays true: its Python examples (fenced blocks after `<!-- example: name -->`)
run in order, in one namespace, against a live server, as an integrator would run them, with the
environment variables the page names pointing at the test's organization. The doc's own webhook
receiver is started on a free port and must receive and verify the test event; the state the
examples leave behind is then checked (the trial is active, the feed shows its events once, the
errors have the documented codes, both verification functions accept a real signature and refuse
a forged one)."""

from __future__ import annotations

import http.server
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from apps.organizations.services import api_client_create
from marketplace.principal import SYSTEM
from marketplace.signing import standard_webhook_headers
from tests.conftest import Party
from tests.procurement.factories import trial_listing

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

DOC = Path(settings.BASE_DIR) / "docs" / "integrators.md"
EXAMPLE = re.compile(r"<!-- example: (?P<name>[\w-]+) -->\n```python\n(?P<code>.*?)\n```", re.DOTALL)
# Every section with code has its example; a renamed or dropped one fails here.
EXPECTED = [
    "token",
    "helper",
    "create-client",
    "search",
    "trial",
    "follow",
    "receiver",
    "standardwebhooks",
    "register",
    "feed",
    "errors",
]


def examples() -> list[tuple[str, str, int]]:
    text = DOC.read_text()
    return [(m["name"], m["code"], text.count("\n", 0, m.start("code")) + 1) for m in EXAMPLE.finditer(text)]


def test_every_example_is_marked_and_every_python_block_is_an_example() -> None:
    assert [name for name, _, _ in examples()] == EXPECTED
    python_blocks = DOC.read_text().count("```python\n")
    assert python_blocks == len(EXPECTED), "a ```python block without an <!-- example: name --> before it"


def test_the_readme_and_the_api_guide_link_the_page() -> None:
    base = Path(settings.BASE_DIR)
    assert "docs/integrators.md" in (base / "README.md").read_text()
    assert "integrators.md" in (base / "docs" / "api.md").read_text()


def test_the_examples_run_against_a_live_server(
    live_server: Any, st_mary: Party, radiant: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing = trial_listing(radiant.organization, slug="nodule-finder-cloud", auto=True)
    admin_client, secret = api_client_create(
        organization=st_mary.organization, name="Integration setup", role="admin", actor=SYSTEM
    )
    monkeypatch.setenv("MARKETPLACE_URL", live_server.url)
    monkeypatch.setenv("MARKETPLACE_CLIENT_ID", admin_client.client_id)
    monkeypatch.setenv("MARKETPLACE_CLIENT_SECRET", secret)
    monkeypatch.setenv("MARKETPLACE_ORG", st_mary.organization.slug)

    namespace: dict[str, Any] = {"__name__": "integrators_doc"}
    receiver: http.server.ThreadingHTTPServer | None = None
    try:
        for name, code, line in examples():
            exec(compile(code, f"{DOC}:{line} (example {name})", "exec"), namespace)
            if name == "receiver":  # the doc's receiver, on a free port, as the webhook URL
                receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), namespace["WebhookHandler"])
                threading.Thread(target=receiver.serve_forever, daemon=True).start()
                monkeypatch.setenv("MARKETPLACE_WEBHOOK_URL", f"http://127.0.0.1:{receiver.server_port}/hooks")
    finally:
        if receiver is not None:
            receiver.shutdown()
            receiver.server_close()

    # Credentials: the integration switched to a member client it created through the API.
    assert namespace["created"]["role"] == "member" and namespace["TOKEN"] != namespace["ADMIN_TOKEN"]
    # Search, trial (idempotent), deployment followed to the end.
    assert [hit["slug"] for hit in namespace["page"]["results"]] == [listing.slug]
    trial, deployment = namespace["trial"], namespace["deployment"]
    assert trial["status"] == "active" and namespace["again"]["id"] == trial["id"]
    assert deployment["status"] == "active" and deployment["progress"]["percent"] == 100
    # Webhooks: the test event arrived at the doc's receiver, verified, and the log says so.
    assert namespace["delivery"]["status"] == "succeeded", namespace["delivery"]
    assert [event["type"] for event in namespace["EVENTS"]] == ["webhook.test"]
    # The feed: this trial's events, in sequence, and nothing new on the next poll.
    events = namespace["feed_events"]
    sequences = [event["sequence"] for event in events]
    assert sequences == sorted(set(sequences)), sequences
    assert {event["type"] for event in events} >= {"trial.requested", "trial.active"}, [e["type"] for e in events]
    assert all(event["type"].split(".")[0] in ("trial", "deployment") for event in events)
    assert namespace["nothing_new"] == []
    # Errors in the documented shape and codes.
    assert (namespace["refused"].status, namespace["refused"].code) == (400, "validation_error")
    assert {"offering", "plan"} <= set(namespace["refused"].fields)
    assert (namespace["missing"].status, namespace["missing"].code) == (404, "not_found")


def test_both_verification_examples_accept_a_real_signature_and_refuse_a_forged_one() -> None:
    namespace: dict[str, Any] = {"__name__": "integrators_doc"}
    for name, code, line in examples():
        if name in ("receiver", "standardwebhooks"):
            exec(compile(f"import json, time\n{code}", f"{DOC}:{line}", "exec"), namespace)
    secret, old_secret = (
        "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_" + "dGhlIG9sZCBzZWNyZXQgb2YgMzIgYnl0ZXMhISE=",
    )
    body = b'{"id":"evt_1","type":"trial.active","data":{}}'
    headers = standard_webhook_headers(secret=secret, message_id="msg_1", body=body, also_signed_by=(old_secret,))
    assert namespace["verify_webhook"]([secret], headers, body)["type"] == "trial.active"
    assert namespace["verify_webhook"]([old_secret], headers, body)["id"] == "evt_1"  # during a rotation
    assert namespace["verify_with_library"](secret, headers, body)["type"] == "trial.active"
    forged = body.replace(b"active", b"failed")
    with pytest.raises(ValueError, match="no valid signature"):
        namespace["verify_webhook"]([secret], headers, forged)
    with pytest.raises(namespace["WebhookVerificationError"]):
        namespace["verify_with_library"](secret, headers, forged)
    stale = standard_webhook_headers(secret=secret, message_id="msg_2", body=body, timestamp=1_000_000_000)
    with pytest.raises(ValueError, match="replay"):
        namespace["verify_webhook"]([secret], stale, body)
