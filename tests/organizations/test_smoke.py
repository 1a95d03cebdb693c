import pytest

pytestmark = pytest.mark.django_db


def test_token_flow_and_directory(st_mary, anonymous_api):
    from apps.organizations.services import api_client_create
    from marketplace.principal import SYSTEM

    client, secret = api_client_create(organization=st_mary.organization, name="itsm", role="member", actor=SYSTEM)
    response = anonymous_api.post(
        "/o/token/",
        {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    anonymous_api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = anonymous_api.get("/api/v1/organizations/st-marys/sites/")
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 0
