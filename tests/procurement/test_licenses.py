"""Licenses are compact JWS (EdDSA, Ed25519) that any JOSE library verifies offline with the
published JWKS: here PyJWT, an independent implementation, with the public keys only. Covers the
claims, tampering, the signed revocation list, key rotation, trial licenses, operator revocation
and how the signing keys are kept."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.core.management import call_command
from rest_framework.test import APIClient

from apps.procurement.models import License, LicenseSigningKey, Subscription, Trial
from apps.provisioning.models import Deployment
from marketplace.models import AuditEntry, Event
from marketplace.signing import SignatureError, jws_verify
from tests.conftest import Party, assert_error
from tests.procurement.factories import REGION, approve, offering_of, plan_of, request_trial, trial_listing
from tests.procurement.subscription_helpers import (
    buy,
    deployments_of,
    jwks,
    on_premise_listing,
    pyjwt_verify,
    sites_of,
    tamper,
)

pytestmark = pytest.mark.django_db


def _license_of(subscription: Subscription) -> License:
    return License.objects.filter(entitlement__subscription=subscription).latest("created_at")


def _token(api: Any, license: License) -> str:
    response = api.get(f"/api/v1/licenses/{license.public_id}/")
    assert response.status_code == 200, response.content
    return response.json()["token"]


def _revocations() -> dict[str, Any]:
    response = APIClient().get("/api/v1/licensing/revocations/")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_subscription_license_verifies_with_pyjwt_and_carries_the_claims(
    st_mary: Party, radiant: Party, anonymous_api: Any
) -> None:
    listing = trial_listing(radiant.organization)
    subscription = buy(st_mary.organization, listing, seats=25)
    license = _license_of(subscription)
    token = _token(st_mary.api("member"), license)
    assert _token(radiant.api("member"), license) == token  # both parties read it

    keys = jwks(anonymous_api)
    assert keys["keys"] and all(set(key) == {"kid", "kty", "crv", "x"} for key in keys["keys"])
    assert all(key["kty"] == "OKP" and key["crv"] == "Ed25519" for key in keys["keys"])
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA" and header["kid"] in {key["kid"] for key in keys["keys"]}
    assert header["kid"] == license.kid

    claims = pyjwt_verify(token, keys)
    entitlement = subscription.entitlements.get()
    assert claims["jti"] == str(license.public_id)
    assert claims["sub"] == st_mary.organization.slug
    assert claims["listing"] == listing.slug
    assert claims["offering"] == str(offering_of(listing).public_id)
    assert claims["plan"] == str(plan_of(listing).public_id)
    assert claims["region"] == REGION and claims["site"] is None
    assert claims["seats"] == 25
    assert claims["features"] == ["subscription"]
    assert claims["entitlement"] == str(entitlement.public_id)
    assert claims["subscription"] == str(subscription.public_id)
    assert claims["nbf"] == int(entitlement.valid_from.timestamp())
    assert claims["exp"] == int(entitlement.valid_until.timestamp())
    assert claims["exp"] > claims["nbf"]


def test_an_on_premise_license_names_its_site(st_mary: Party, radiant: Party) -> None:
    sites = sites_of(st_mary.organization, 2)
    subscription = buy(st_mary.organization, on_premise_listing(radiant.organization), sites=sites)
    keys = jwks()
    seen = set()
    for license in License.objects.filter(entitlement__subscription=subscription):
        claims = pyjwt_verify(license.token, keys)
        assert claims["region"] is None and claims["jti"] == str(license.public_id)
        seen.add(claims["site"])
    assert seen == {str(site.public_id) for site in sites}


def test_a_tampered_token_fails_verification(st_mary: Party, radiant: Party) -> None:
    license = _license_of(buy(st_mary.organization, trial_listing(radiant.organization), seats=5))
    keys = jwks()
    pyjwt_verify(license.token, keys)

    def more_seats(claims: dict[str, Any]) -> None:
        claims["seats"] = 500

    def other_owner(claims: dict[str, Any]) -> None:
        claims["sub"] = claims["sub"][:-1] + ("x" if claims["sub"][-1] != "x" else "y")  # one character

    for change in (more_seats, other_owner):
        forged = tamper(license.token, change)
        with pytest.raises(jwt.InvalidSignatureError):
            pyjwt_verify(forged, keys)
        with pytest.raises(SignatureError):
            jws_verify(forged, jwks=keys)

    header, payload, signature = license.token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(jwt.InvalidSignatureError):
        pyjwt_verify(f"{header}.{payload}.{flipped}", keys)


def test_an_operator_revokes_a_license_and_the_signed_revocation_list_names_it(
    st_mary: Party, radiant: Party, northside: Party, operator_api: Any
) -> None:
    license = _license_of(buy(st_mary.organization, trial_listing(radiant.organization)))
    url = f"/api/v1/licenses/{license.public_id}/revoke/"
    for api in (st_mary.api("admin"), st_mary.api("client:admin"), radiant.api("admin"), radiant.api("client:admin")):
        assert_error(api.post(url, {"reason": "Misuse."}, format="json"), 403)
    assert_error(northside.api("admin").post(url, {"reason": "Misuse."}, format="json"), 404)
    assert_error(APIClient().post(url, {"reason": "Misuse."}, format="json"), 401)
    assert_error(operator_api.post(url, {}, format="json"), 400, field="reason")
    assert License.objects.get(pk=license.pk).revoked_at is None
    assert str(license.public_id) not in _revocations()["revoked"]

    response = operator_api.post(url, {"reason": "Key material leaked."}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "revoked" and body["revoked_at"] and body["revocation_reason"] == "Key material leaked."
    assert st_mary.api().get(f"/api/v1/licenses/{license.public_id}/").json()["status"] == "revoked"
    assert Event.objects.filter(subject_id=str(license.public_id), type="license.revoked").count() == 1
    [audit] = AuditEntry.objects.filter(object_id=str(license.public_id), action="procurement.license.revoked")
    assert audit.actor_kind == "operator"

    again = operator_api.post(url, {"reason": "Twice."}, format="json")
    assert again.status_code == 200 and again.json()["revocation_reason"] == "Key material leaked."
    assert Event.objects.filter(subject_id=str(license.public_id), type="license.revoked").count() == 1

    listing = _revocations()
    assert str(license.public_id) in listing["revoked"]
    header = jwt.get_unverified_header(listing["token"])
    assert header["alg"] == "EdDSA" and header["kid"] == listing["kid"]
    payload = pyjwt_verify(listing["token"], jwks())
    assert str(license.public_id) in payload["revoked"]
    assert payload["revoked"] == listing["revoked"] and payload["iat"] == listing["iat"]
    with pytest.raises(jwt.InvalidSignatureError):
        pyjwt_verify(tamper(listing["token"], lambda claims: claims["revoked"].clear()), jwks())


def test_rotating_the_key_keeps_old_licenses_verifiable_and_signs_new_ones_with_the_new_key(
    st_mary: Party, northside: Party, radiant: Party
) -> None:
    old_license = _license_of(buy(st_mary.organization, trial_listing(radiant.organization)))
    old_kid = old_license.kid
    assert [key["kid"] for key in jwks()["keys"]] == [old_kid]

    out = io.StringIO()
    call_command("rotate_license_key", stdout=out)
    active = LicenseSigningKey.objects.get(is_active=True)
    assert active.kid != old_kid and active.kid in out.getvalue()
    assert LicenseSigningKey.objects.get(kid=old_kid).retired_at is not None
    keys = jwks()
    assert [key["kid"] for key in keys["keys"]] == [active.kid, old_kid]  # the active key first
    assert all("d" not in key for key in keys["keys"])

    assert pyjwt_verify(old_license.token, keys)["jti"] == str(old_license.public_id)
    assert jwt.get_unverified_header(old_license.token)["kid"] == old_kid

    new_license = _license_of(buy(northside.organization, trial_listing(radiant.organization)))
    assert new_license.kid == active.kid
    assert jwt.get_unverified_header(new_license.token)["kid"] == active.kid
    assert pyjwt_verify(new_license.token, keys)["sub"] == northside.organization.slug
    revocations = _revocations()
    assert jwt.get_unverified_header(revocations["token"])["kid"] == active.kid
    pyjwt_verify(revocations["token"], keys)

    # Without the old key in the JWKS, the old license does not verify: the kid matters.
    only_new = {"keys": [key for key in keys["keys"] if key["kid"] == active.kid]}
    with pytest.raises(LookupError):
        pyjwt_verify(old_license.token, only_new)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(old_license.token, jwt.PyJWK(only_new["keys"][0]), algorithms=["EdDSA"])

    call_command("rotate_license_key", stdout=io.StringIO())
    assert len(jwks()["keys"]) == 3 and LicenseSigningKey.objects.filter(is_active=True).count() == 1
    pyjwt_verify(old_license.token, jwks())
    pyjwt_verify(new_license.token, jwks())


def test_a_trial_gets_a_license_at_approval_revoked_when_the_trial_is_cancelled(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    listing = trial_listing(radiant.organization)
    trial = request_trial(st_mary.organization, listing)
    provider = st_mary.api("member")
    assert provider.get(f"/api/v1/trials/{trial.public_id}/").json()["license"] is None

    trial = approve(trial)
    license_id = provider.get(f"/api/v1/trials/{trial.public_id}/").json()["license"]
    assert license_id and radiant.api().get(f"/api/v1/trials/{trial.public_id}/").json()["license"] == license_id
    license = License.objects.get(public_id=license_id)
    claims = pyjwt_verify(_token(provider, license), jwks())
    assert claims["jti"] == license_id and claims["sub"] == st_mary.organization.slug
    assert claims["kind"] == "trial" and claims["trial"] == str(trial.public_id)
    assert claims["listing"] == listing.slug and claims["offering"] == str(offering_of(listing).public_id)
    assert claims["region"] == REGION and claims["features"] == ["trial"]
    days = trial.days + settings.MARKETPLACE_TRIAL_LICENSE_SETUP_DAYS
    assert abs(claims["exp"] - claims["nbf"] - int(timedelta(days=days).total_seconds())) <= 1
    assert Event.objects.filter(subject_id=license_id, type="license.issued").count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        response = provider.post(f"/api/v1/trials/{trial.public_id}/cancel/", {"reason": "Not now."}, format="json")
    assert response.status_code == 200, response.content
    assert Trial.objects.get(pk=trial.pk).status == Trial.Status.CANCELLED
    assert License.objects.get(public_id=license_id).revoked_at is not None
    assert provider.get(f"/api/v1/licenses/{license_id}/").json()["status"] == "revoked"
    assert license_id in _revocations()["revoked"]
    assert Deployment.objects.get(trial=trial).status == Deployment.Status.DEPROVISIONED


def test_the_signing_keys_are_published_without_private_parts_and_stored_encrypted(
    st_mary: Party, radiant: Party, anonymous_api: Any
) -> None:
    response = anonymous_api.get("/api/v1/licensing/public-key/")
    assert response.status_code == 200
    assert "max-age" in response["Cache-Control"]
    assert '"d"' not in response.content.decode()
    buy(st_mary.organization, trial_listing(radiant.organization))
    call_command("rotate_license_key", stdout=io.StringIO())
    body = anonymous_api.get("/api/v1/licensing/public-key/")
    assert '"d"' not in body.content.decode()
    assert all("d" not in key for key in body.json()["keys"])
    for key in LicenseSigningKey.objects.all():
        assert key.private_key_encrypted and "PRIVATE KEY" not in key.private_key_encrypted
        assert "d" not in key.public_jwk
    assert _revocations()["token"].count(".") == 2


def test_licenses_are_two_party_and_not_public(
    st_mary: Party, northside: Party, radiant: Party, orbit: Party, anonymous_api: Any
) -> None:
    license = _license_of(buy(st_mary.organization, trial_listing(radiant.organization)))
    assert_error(anonymous_api.get("/api/v1/licenses/"), 401)
    assert_error(anonymous_api.get(f"/api/v1/licenses/{license.public_id}/"), 401)
    for party in (northside, orbit):
        assert_error(party.api().get(f"/api/v1/licenses/{license.public_id}/"), 404)
        assert party.api().get("/api/v1/licenses/").json()["count"] == 0
    assert st_mary.api("client:read_only").get("/api/v1/licenses/").json()["count"] == 1
    assert radiant.api("client:read_only").get("/api/v1/licenses/").json()["count"] == 1
    assert [d.status for d in deployments_of(Subscription.objects.get(provider=st_mary.organization))] == ["pending"]
