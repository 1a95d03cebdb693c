"""Logo and screenshots: a draft's change at once; a live listing's only through a reviewed
revision, so the store never shows a picture an operator has not seen."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from django.db.models import Model

from apps.catalog import services
from apps.catalog.models import Listing, ListingRevision, Screenshot
from marketplace.models import AuditEntry
from marketplace.principal import Role
from tests.catalog.contract import VENDOR_WRITERS, ListingChildContract, draft_of
from tests.catalog.factories import png_bytes, publish_listing, ready_listing, upload
from tests.conftest import Party, assert_error
from tests.procurement.factories import PATIENT_DATA, principal_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def screenshots_url(listing: Listing, tail: str = "") -> str:
    return f"/api/v1/apps/{listing.slug}/screenshots/{tail}"


def revision_url(listing: Listing, revision: dict[str, Any] | ListingRevision, tail: str = "") -> str:
    rid = revision["id"] if isinstance(revision, dict) else revision.public_id
    return f"/api/v1/apps/{listing.slug}/revisions/{rid}/{tail}"


def image(name: str = "shot.png", color: str = "teal") -> Any:
    return upload(name, png_bytes((32, 24), color), "image/png")


def add_screenshot(listing: Listing, party: Party, caption: str, color: str = "teal") -> Screenshot:
    return services.screenshot_add(
        listing=listing, actor=principal_of(party.organization, Role.ADMIN), caption=caption, upload=image(color=color)
    )


@pytest.fixture
def draft(radiant: Party) -> Listing:
    return ready_listing(vendor=radiant.organization, name="Chest X-ray Triage")


@pytest.fixture
def live(radiant: Party) -> Listing:
    """A published listing with a logo and two screenshots, set while it was a draft."""
    listing = ready_listing(vendor=radiant.organization, name="Chest X-ray Triage")
    services.listing_set_logo(
        listing=listing, actor=principal_of(radiant.organization, Role.ADMIN), upload=image("logo.png", "navy")
    )
    add_screenshot(listing, radiant, "Worklist")
    add_screenshot(listing, radiant, "Findings", color="olive")
    return publish_listing(listing)


class TestScreenshotsContract(ListingChildContract):
    """Reading and removing through the shared contract; uploads are multipart (below)."""

    model = Screenshot
    children = "screenshots"
    writers: ClassVar[frozenset[str]] = VENDOR_WRITERS
    can_create = False
    can_update = False
    can_delete = True

    @pytest.fixture(autouse=True)
    def _media(self, media_root: Any) -> None:
        pass

    def make(self, party: Party) -> Model:
        return add_screenshot(draft_of(party), party, "Worklist")

    def make_many(self, party: Party, count: int) -> None:
        """Rows straight in the table: more than a listing may show, to page through them."""
        listing, model = draft_of(party), add_screenshot(draft_of(party), party, "Worklist")
        Screenshot.objects.bulk_create(
            Screenshot(
                listing=listing,
                position=position,
                caption=f"Shot {position}",
                **{field: getattr(model, field) for field in ("file", "filename", "content_type", "size", "sha256")},
            )
            for position in range(1, count)
        )

    def test_contract_methods_not_offered_answer_405(
        self, missing_method: str, owner_party: Party, obj: Model, call_as: Any
    ) -> None:
        if missing_method == "POST":
            pytest.skip("screenshots are uploaded as multipart: the tests below")
        super().test_contract_methods_not_offered_answer_405(missing_method, owner_party, obj, call_as)


# --- a draft's screenshots --------------------------------------------------------------------


def test_the_vendor_adds_screenshots_to_a_draft_in_order_and_removes_one(draft: Listing, radiant: Party) -> None:
    api = radiant.api("member")
    first = api.post(screenshots_url(draft), {"file": image(), "caption": "Worklist"}, format="multipart")
    assert first.status_code == 201, first.content
    second = api.post(screenshots_url(draft), {"file": image(color="red"), "caption": " Findings "}, format="multipart")
    assert second.status_code == 201, second.content
    body = second.json()
    assert body["caption"] == "Findings" and body["position"] == 1 and len(body["sha256"]) == 64
    assert body["url"].endswith(".png")
    listed = api.get(screenshots_url(draft)).json()["results"]
    assert [item["caption"] for item in listed] == ["Worklist", "Findings"]

    assert api.delete(screenshots_url(draft, f"{first.json()['id']}/")).status_code == 204
    [left] = Screenshot.objects.filter(listing=draft)
    assert left.caption == "Findings" and left.position == 0  # the ones after it move up
    assert AuditEntry.objects.filter(action="catalog.screenshot.removed").count() == 1
    detail = api.get(f"/api/v1/apps/{draft.slug}/").json()
    assert [item["caption"] for item in detail["screenshots"]] == ["Findings"]


@pytest.mark.parametrize(
    ("label", "payload", "field"),
    [
        ("no file", {"caption": "Worklist"}, "file"),
        ("not an image", {"file": upload("shot.png", b"plain text, not a picture", "image/png")}, "file"),
        ("caption too long", {"file": "image", "caption": "x" * 201}, "caption"),
    ],
)
def test_bad_screenshots_are_refused_naming_the_field(
    label: str, payload: dict[str, Any], field: str, draft: Listing, radiant: Party
) -> None:
    if payload.get("file") == "image":
        payload = {**payload, "file": image()}
    response = radiant.api("member").post(screenshots_url(draft), payload, format="multipart")
    assert_error(response, 400, field=field)
    assert not Screenshot.objects.exists()


@pytest.mark.parametrize("kind", sorted(PATIENT_DATA))
def test_patient_data_in_a_caption_is_refused(kind: str, draft: Listing, radiant: Party) -> None:
    payload = {"file": image(), "caption": PATIENT_DATA[kind][:120]}
    response = radiant.api("member").post(screenshots_url(draft), payload, format="multipart")
    assert_error(response, 400, code="patient_data", field="caption")
    assert not Screenshot.objects.exists()


def test_a_listing_shows_a_bounded_number_of_screenshots(
    draft: Listing, radiant: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "SCREENSHOTS_MAX", 2)
    api = radiant.api("member")
    for _ in range(2):
        assert api.post(screenshots_url(draft), {"file": image()}, format="multipart").status_code == 201
    assert_error(api.post(screenshots_url(draft), {"file": image()}, format="multipart"), 400, field="file")
    assert Screenshot.objects.filter(listing=draft).count() == 2


def test_others_may_not_add_screenshots(draft: Listing, radiant: Party, orbit: Party, st_mary: Party) -> None:
    for api, status in ((orbit.api(), 404), (st_mary.api(), 404), (radiant.api("client:read_only"), 403)):
        response = api.post(screenshots_url(draft), {"file": image()}, format="multipart")
        assert_error(response, status)
    assert not Screenshot.objects.exists()


# --- a live listing's media change only through a revision -------------------------------------


def test_a_live_listing_refuses_direct_media_changes(live: Listing, radiant: Party) -> None:
    api = radiant.api("admin")
    logo_before = Listing.objects.get(pk=live.pk).logo.name
    for response in (
        api.post(f"/api/v1/apps/{live.slug}/logo/", {"file": image("new.png")}, format="multipart"),
        api.post(screenshots_url(live), {"file": image()}, format="multipart"),
        api.delete(screenshots_url(live, f"{live.screenshots.first().public_id}/")),
    ):
        error = assert_error(response, 409, code="revision_required")
        assert "revision" in error["message"]
    assert Listing.objects.get(pk=live.pk).logo.name == logo_before
    assert live.screenshots.count() == 2


def test_media_proposed_in_a_revision_go_live_only_when_an_operator_approves_it(
    live: Listing, radiant: Party, operator_api: Any, anonymous_api: Any
) -> None:
    vendor = radiant.api("member")
    public_before = anonymous_api.get(f"/api/v1/apps/{live.slug}/").json()
    worklist, findings = live.screenshots.all()

    revision = vendor.post(f"/api/v1/apps/{live.slug}/revisions/", {}, format="json").json()
    assert revision["changes"] == {}
    assert [item["caption"] for item in revision["screenshots"]] == ["Worklist", "Findings"]

    logo = vendor.post(revision_url(live, revision, "logo/"), {"file": image("logo-2.png", "red")}, format="multipart")
    assert logo.status_code == 200, logo.content
    assert logo.json()["logo_url"].endswith("logo-2.png")
    added = vendor.post(
        revision_url(live, revision, "screenshots/"),
        {"file": image(color="red"), "caption": "Report"},
        format="multipart",
    )
    assert added.status_code == 200, added.content
    removed = vendor.delete(revision_url(live, revision, f"screenshots/{worklist.public_id}/"))
    assert removed.status_code == 200, removed.content
    proposed = removed.json()
    assert [item["caption"] for item in proposed["screenshots"]] == ["Findings", "Report"]
    assert set(proposed["changes"]) == {"logo", "screenshots"}
    report_id = proposed["screenshots"][1]["id"]

    # Nothing of it is live yet: not for the public, not in the listing's own screenshots.
    assert anonymous_api.get(f"/api/v1/apps/{live.slug}/").json()["logo_url"] == public_before["logo_url"]
    assert anonymous_api.get(f"/api/v1/apps/{live.slug}/").json()["screenshots"] == public_before["screenshots"]
    assert [s["caption"] for s in anonymous_api.get(screenshots_url(live)).json()["results"]] == [
        "Worklist",
        "Findings",
    ]
    assert AuditEntry.objects.filter(action__startswith="catalog.revision.screenshot_").count() == 2
    assert AuditEntry.objects.filter(action="catalog.revision.logo_changed").count() == 1

    assert vendor.post(revision_url(live, revision, "submit/")).status_code == 200  # media alone are a change
    # Under review it holds still.
    for response in (
        vendor.post(revision_url(live, revision, "logo/"), {"file": image("logo-3.png")}, format="multipart"),
        vendor.post(revision_url(live, revision, "screenshots/"), {"file": image()}, format="multipart"),
        vendor.delete(revision_url(live, revision, f"screenshots/{findings.public_id}/")),
    ):
        assert_error(response, 409, code="invalid_transition")

    approved = operator_api.post(revision_url(live, revision, "approve/"))
    assert approved.status_code == 200, approved.content
    public = anonymous_api.get(f"/api/v1/apps/{live.slug}/").json()
    assert public["logo_url"].endswith("logo-2.png")
    assert [(item["caption"], item["position"]) for item in public["screenshots"]] == [("Findings", 0), ("Report", 1)]
    assert public["screenshots"][1]["id"] == report_id
    assert not Screenshot.objects.filter(pk=worklist.pk).exists()
    assert Screenshot.objects.get(public_id=report_id).file.read() == png_bytes((32, 24), "red")


def test_a_withdrawn_revision_leaves_the_live_media_as_they_were(
    live: Listing, radiant: Party, anonymous_api: Any
) -> None:
    vendor = radiant.api("member")
    before = anonymous_api.get(f"/api/v1/apps/{live.slug}/").json()
    revision = vendor.post(f"/api/v1/apps/{live.slug}/revisions/", {}, format="json").json()
    vendor.post(revision_url(live, revision, "logo/"), {"file": image("logo-2.png")}, format="multipart")
    vendor.delete(revision_url(live, revision, f"screenshots/{live.screenshots.first().public_id}/"))
    assert vendor.post(revision_url(live, revision, "withdraw/")).status_code == 200
    after = anonymous_api.get(f"/api/v1/apps/{live.slug}/").json()
    assert (after["logo_url"], after["screenshots"]) == (before["logo_url"], before["screenshots"])


def test_bad_revision_media_are_refused(live: Listing, radiant: Party) -> None:
    vendor = radiant.api("member")
    revision = vendor.post(f"/api/v1/apps/{live.slug}/revisions/", {}, format="json").json()
    fake = upload("logo.png", b"<svg onload='alert(1)'/>", "image/png")
    assert_error(
        vendor.post(revision_url(live, revision, "logo/"), {"file": fake}, format="multipart"), 400, field="file"
    )
    assert_error(vendor.post(revision_url(live, revision, "logo/"), {}, format="multipart"), 400, field="file")
    long_caption = {"file": image(), "caption": "x" * 201}
    response = vendor.post(revision_url(live, revision, "screenshots/"), long_caption, format="multipart")
    assert_error(response, 400, field="caption")
    unknown = vendor.delete(revision_url(live, revision, "screenshots/00000000-0000-4000-8000-000000000000/"))
    assert_error(unknown, 404)
    assert (
        ListingRevision.objects.get(public_id=revision["id"]).data["screenshots"]
        == (services.listing_facts_snapshot(live)["screenshots"])
    )


def test_only_the_vendor_proposes_media(
    live: Listing, radiant: Party, orbit: Party, st_mary: Party, operator_api: Any
) -> None:
    revision = radiant.api().post(f"/api/v1/apps/{live.slug}/revisions/", {}, format="json").json()
    for api, status in (
        (orbit.api(), 404),
        (st_mary.api(), 404),
        (radiant.api("client:read_only"), 403),
        (operator_api, 403),
    ):
        response = api.post(revision_url(live, revision, "logo/"), {"file": image()}, format="multipart")
        assert_error(response, status)
        response = api.delete(revision_url(live, revision, f"screenshots/{live.screenshots.first().public_id}/"))
        assert_error(response, status)
    assert (
        ListingRevision.objects.get(public_id=revision["id"]).data["logo"] == Listing.objects.get(pk=live.pk).logo.name
    )


def test_a_revision_made_before_media_were_revised_starts_from_the_live_media(live: Listing, radiant: Party) -> None:
    revision = services.revision_create(
        listing=live, actor=principal_of(radiant.organization, Role.ADMIN), data={"tagline": "Faster."}
    )
    for key in ("logo", "screenshots"):  # as such a revision was stored
        revision.base.pop(key)
        revision.data.pop(key)
    revision.save()
    answer = radiant.api().post(revision_url(live, revision, "screenshots/"), {"file": image()}, format="multipart")
    assert answer.status_code == 200, answer.content
    assert [item["caption"] for item in answer.json()["screenshots"]] == ["Worklist", "Findings", ""]
    assert set(answer.json()["changes"]) == {"tagline", "screenshots"}
