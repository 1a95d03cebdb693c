"""Reviews: anyone reads them; an organization that ran a trial of the app (its trial started) or
subscribed to it posts one, once; the listing's rating {average, count} shows on the detail and
in search results, and `?ordering=rating` sorts by it."""

from __future__ import annotations

from typing import Any

import pytest

from apps.catalog.models import Listing, Review
from apps.catalog.services import review_post
from marketplace.models import AuditEntry, Event
from marketplace.principal import Role
from tests.conftest import Party, assert_error
from tests.procurement.factories import PATIENT_DATA, principal_of, request_trial, trial_listing
from tests.procurement.subscription_helpers import buy, started_trial

pytestmark = pytest.mark.django_db


def _url(listing: Listing) -> str:
    return f"/api/v1/apps/{listing.slug}/reviews/"


def _rating(api: Any, listing: Listing) -> dict[str, Any]:
    response = api.get(f"/api/v1/apps/{listing.slug}/")
    assert response.status_code == 200, response.content
    return response.json()["rating"]


@pytest.fixture
def listing(radiant: Party) -> Listing:
    return trial_listing(radiant.organization)


@pytest.fixture
def customer(st_mary: Party, listing: Listing, django_capture_on_commit_callbacks: Any) -> Party:
    """St. Mary's ran a trial of the listing (it became active: `started_at` is set)."""
    started_trial(st_mary.organization, listing, django_capture_on_commit_callbacks)
    return st_mary


def test_a_customer_posts_a_review_that_everyone_reads(
    customer: Party, radiant: Party, listing: Listing, anonymous_api: Any
) -> None:
    empty = anonymous_api.get(_url(listing))
    assert empty.status_code == 200 and empty.json()["count"] == 0
    assert _rating(anonymous_api, listing) == {"average": None, "count": 0}

    response = customer.api("member").post(
        _url(listing), {"rating": 4, "title": "Fast triage", "body": "Cut our reading backlog."}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["rating"] == 4 and body["listing"] == listing.slug and body["title"] == "Fast triage"
    assert body["organization"] == {"slug": customer.organization.slug, "name": customer.organization.name}

    listed = anonymous_api.get(_url(listing)).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == body["id"]
    assert anonymous_api.get(f"{_url(listing)}{body['id']}/").json()["rating"] == 4
    assert _rating(anonymous_api, listing) == {"average": "4.00", "count": 1}

    [event] = Event.objects.filter(type="review.posted")
    assert event.organization_id == customer.organization.pk and event.counterparty_id == radiant.organization.pk
    assert event.data == {"review": body["id"], "listing": listing.slug, "rating": 4}
    assert AuditEntry.objects.filter(action="catalog.review.posted", object_id=body["id"]).count() == 1


def test_one_review_per_organization(customer: Party, listing: Listing) -> None:
    first = customer.api("member").post(_url(listing), {"rating": 5}, format="json")
    assert first.status_code == 201, first.content
    for who in ("admin", "client:member"):
        assert_error(customer.api(who).post(_url(listing), {"rating": 1}, format="json"), 409, code="already_reviewed")
    assert Review.objects.filter(listing=listing).count() == 1
    assert Listing.objects.get(pk=listing.pk).rating_count == 1
    assert Event.objects.filter(type="review.posted").count() == 1


def test_only_organizations_that_used_the_app_review_it(
    northside: Party, radiant: Party, listing: Listing, anonymous_api: Any
) -> None:
    assert_error(northside.api().post(_url(listing), {"rating": 5}, format="json"), 403, code="not_a_customer")
    request_trial(northside.organization, listing)  # requested, never started
    assert_error(northside.api().post(_url(listing), {"rating": 5}, format="json"), 403, code="not_a_customer")
    assert_error(
        radiant.api("admin").post(_url(listing), {"rating": 5}, format="json"), 403, code="own_listing"
    )  # the vendor of the listing
    assert_error(anonymous_api.post(_url(listing), {"rating": 5}, format="json"), 401)
    assert not Review.objects.exists() and not Event.objects.filter(type="review.posted").exists()


def test_a_subscription_makes_an_organization_a_customer(northside: Party, listing: Listing) -> None:
    buy(northside.organization, listing)  # pending fulfillment is enough: it bought the app
    response = northside.api("client:member").post(_url(listing), {"rating": 3}, format="json")
    assert response.status_code == 201, response.content
    assert_error(
        northside.api("client:read_only").post(_url(listing), {"rating": 3}, format="json"), 403
    )  # read-only clients only read


@pytest.mark.parametrize("rating", [0, 6, "x", None, 4.5, ""])
def test_the_rating_is_a_whole_number_from_1_to_5(customer: Party, listing: Listing, rating: Any) -> None:
    error = assert_error(customer.api().post(_url(listing), {"rating": rating}, format="json"), 400, field="rating")
    assert error["fields"]["rating"]
    assert not Review.objects.exists()


def test_a_missing_rating_is_refused(customer: Party, listing: Listing) -> None:
    assert_error(customer.api().post(_url(listing), {"title": "No stars"}, format="json"), 400, field="rating")


@pytest.mark.parametrize("field", ["title", "body"])
@pytest.mark.parametrize("kind", sorted(PATIENT_DATA))
def test_patient_data_in_a_review_is_refused(customer: Party, listing: Listing, field: str, kind: str) -> None:
    text = PATIENT_DATA[kind][:120]
    response = customer.api().post(_url(listing), {"rating": 4, field: text}, format="json")
    assert_error(response, 400, code="patient_data", field=field)
    assert not Review.objects.exists() and Listing.objects.get(pk=listing.pk).rating_count == 0


def test_the_rating_shows_in_search_and_orders_it(
    st_mary: Party, northside: Party, radiant: Party, anonymous_api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    vendor = radiant.organization
    loved = trial_listing(vendor, slug="loved-app")
    liked = trial_listing(vendor, slug="liked-app")
    unrated = trial_listing(vendor, slug="unrated-app")
    for listing, ratings in ((loved, (5, 4)), (liked, (2, 3))):
        for party, rating in zip((st_mary, northside), ratings, strict=True):
            started_trial(party.organization, listing, django_capture_on_commit_callbacks)
            review_post(listing=listing, actor=principal_of(party.organization, Role.MEMBER), rating=rating)

    assert _rating(anonymous_api, loved) == {"average": "4.50", "count": 2}
    assert _rating(anonymous_api, liked) == {"average": "2.50", "count": 2}
    response = anonymous_api.get("/api/v1/apps/", {"ordering": "rating"})
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [item["slug"] for item in results] == ["loved-app", "liked-app", "unrated-app"]
    assert [item["rating"] for item in results] == [
        {"average": "4.50", "count": 2},
        {"average": "2.50", "count": 2},
        {"average": None, "count": 0},
    ]
    by_name = anonymous_api.get("/api/v1/apps/", {"ordering": "name"}).json()["results"]
    assert [item["slug"] for item in by_name] == ["liked-app", "loved-app", "unrated-app"]
    searched = anonymous_api.get("/api/v1/apps/", {"q": "loved"}).json()["results"]
    assert searched[0]["slug"] == "loved-app" and searched[0]["rating"] == {"average": "4.50", "count": 2}
    assert unrated.rating_count == 0
