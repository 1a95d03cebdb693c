"""The schema generates a working client: openapi-python-client writes a Python package from the
schema the live server serves, and that package, imported as is, gets through an integrator's
first journey against the live server: search the catalog, request a trial (with an
Idempotency-Key), read it back, and get a typed error in the one error shape.

Slow (it runs the generator, about 5 s), but part of the suite."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from apps.organizations.services import api_client_create
from marketplace.principal import SYSTEM
from tests.api.live import fetch_json, fetch_token
from tests.conftest import Party
from tests.procurement.factories import REGION, offering_of, plan_of, trial_listing

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

PACKAGE = "marketplace_client"
GENERATOR = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent)) or shutil.which(
    "openapi-python-client"
)
# No formatting hooks (ruff is not needed to generate); bundles are zips, which the generator
# only knows as bytes under the generic binary type.
GENERATOR_OPTIONS = ("--output-path", PACKAGE, "--config", "config.yaml")
GENERATOR_CONFIG = """\
post_hooks: []
content_type_overrides:
  application/zip: application/octet-stream
"""


@pytest.fixture
def client_package(live_server: Any, tmp_path: Path) -> Iterator[ModuleType]:
    if GENERATOR is None:
        pytest.skip("openapi-python-client is not installed: pip install -r requirements-dev.txt")
    schema = fetch_json(f"{live_server.url}/api/schema/?format=json")
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    (tmp_path / "config.yaml").write_text(GENERATOR_CONFIG)
    result = subprocess.run(
        [GENERATOR, "generate", "--path", "schema.json", "--meta", "none", *GENERATOR_OPTIONS],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # The generator says WARNING for each operation or response it could not understand.
    assert "WARNING" not in output and "Unable to" not in output, output
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _api(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def test_a_generated_client_searches_requests_a_trial_and_reads_it_back(
    client_package: ModuleType, live_server: Any, st_mary: Party, radiant: Party
) -> None:
    listing = trial_listing(radiant.organization, slug="nodule-finder-cloud")
    offering, plan = offering_of(listing), plan_of(listing)
    api_client, secret = api_client_create(
        organization=st_mary.organization, name="ITSM connector", role="member", actor=SYSTEM
    )
    token = fetch_token(live_server.url, api_client.client_id, secret)
    models = importlib.import_module(f"{PACKAGE}.models")
    client = client_package.AuthenticatedClient(base_url=live_server.url, token=token, raise_on_unexpected_status=True)

    # Search the catalog (anyone may; here with the token).
    page = _api("apps.apps_list").sync(client=client, q="nodule", deployment_mode=["cloud"])
    assert isinstance(page, models.ListingSearchPage), page
    assert page.count == 1 and [hit.slug for hit in page.results] == [listing.slug]
    assert "deployment_mode" in page.facets.additional_properties

    # Request a trial, twice with the same Idempotency-Key: one trial.
    body = models.TrialRequestRequest(
        listing=listing.slug, offering=offering.public_id, plan=plan.public_id, region=REGION, notes="Pilot"
    )
    create = _api("trials.trials_create")
    trial = create.sync(client=client, body=body, idempotency_key="itsm-4711")
    assert isinstance(trial, models.Trial), trial
    again = create.sync(client=client, body=body, idempotency_key="itsm-4711")
    assert isinstance(again, models.Trial) and again.id == trial.id

    # Read it back, alone and in the list.
    read = _api("trials.trials_retrieve").sync(id=trial.id, client=client)
    assert isinstance(read, models.Trial), read
    assert (read.id, read.listing, read.offering, read.plan) == (
        trial.id,
        listing.slug,
        offering.public_id,
        plan.public_id,
    )
    assert read.status == trial.status and read.provider.slug == "st-marys"
    listed = _api("trials.trials_list").sync(client=client)
    assert [t.id for t in listed.results] == [trial.id]

    # Errors come back typed, in the one error shape.
    missing = _api("trials.trials_retrieve").sync_detailed(id=uuid.uuid4(), client=client)
    assert missing.status_code == 404 and isinstance(missing.parsed, models.Error)
    assert missing.parsed.error.code == "not_found" and missing.parsed.error.message
    second = create.sync_detailed(client=client, body=body)  # one open trial per offering and place
    assert second.status_code == 409 and isinstance(second.parsed, models.Error)
    assert second.parsed.error.code == "trial_exists"

    # Without credentials: public reads work, the rest is a typed 401.
    anonymous = client_package.Client(base_url=live_server.url, raise_on_unexpected_status=True)
    assert _api("apps.apps_retrieve").sync(slug=listing.slug, client=anonymous).slug == listing.slug
    refused = _api("trials.trials_list").sync_detailed(client=anonymous)
    assert refused.status_code == 401 and refused.parsed.error.code == "not_authenticated"
