"""Demo organizations, people, sites and API clients for `manage.py seed_demo` (idempotent).

Fixed demo credentials so a newcomer can copy them from the README; never used with DEBUG off.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.organizations.models import ApiClient, MemberRole, Membership, Organization, Site
from apps.organizations.services import PARTNER_TERMS_VERSION

DEMO_PASSWORD = "demo-password-2026"

VENDORS = [
    ("radiant-ai", "Radiant AI", "business", "DE", "AI that reads CT and MR studies; imaging triage and measurement."),
    ("dosewise", "DoseWise", "business", "NL", "Radiation dose monitoring across modalities and sites."),
    ("labinsight", "LabInsight", "academia", "CH", "Lab analytics spun out of a university hospital."),
    ("carebridge", "CareBridge Remote", "civil_society", "GB", "Remote patient monitoring for chronic care."),
]
PROVIDERS = [
    (
        "st-marys",
        "St. Mary's Hospital Group",
        "business",
        "DE",
        [
            ("St. Mary's Main Campus", "hospital", "cloud_connected"),
            ("St. Mary's Imaging Centre", "clinic", "air_gapped"),
        ],
    ),
    ("northside", "Northside Clinics", "government", "NL", [("Northside General", "hospital", "cloud_connected")]),
    (
        "lakeshore",
        "Lakeshore University Hospital",
        "academia",
        "CH",
        [("Lakeshore Data Centre", "data_centre", "air_gapped"), ("Lakeshore Hospital", "hospital", "cloud_connected")],
    ),
]


@dataclass
class DemoLogin:
    email: str
    role: str
    organization: str


@dataclass
class DemoClient:
    organization: str
    name: str
    role: str
    client_id: str
    client_secret: str


@dataclass
class DemoResult:
    logins: list[DemoLogin] = field(default_factory=list)
    clients: list[DemoClient] = field(default_factory=list)


def _user(email: str, full_name: str, *, staff: bool = False) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(
            email=email,
            password=DEMO_PASSWORD,
            full_name=full_name,
            is_staff=staff,
            is_superuser=staff,
            email_confirmed_at=timezone.now(),
        )
    return user


def _client(organization: Organization, role: str) -> DemoClient:
    client_id = f"demo-{organization.slug}-{role.replace('_', '-')}"
    secret = f"demo-secret-{organization.slug}-{role.replace('_', '-')}"
    if not ApiClient.objects.filter(client_id=client_id).exists():
        ApiClient.objects.create(
            name=f"{organization.name} demo ({role})",
            organization=organization,
            role=role,
            client_id=client_id,
            client_secret=secret,
            client_type=ApiClient.CLIENT_CONFIDENTIAL,
            authorization_grant_type=ApiClient.GRANT_CLIENT_CREDENTIALS,
        )
    return DemoClient(organization.slug, f"{organization.name} demo", role, client_id, secret)


def _members(organization: Organization, result: DemoResult) -> None:
    domain = f"{organization.slug}.example"
    for local, role in (("admin", MemberRole.ADMIN), ("member", MemberRole.MEMBER)):
        user = _user(f"{local}@{domain}", f"{organization.name} {local}")
        Membership.objects.get_or_create(user=user, organization=organization, defaults={"role": role})
        result.logins.append(DemoLogin(user.email, role, organization.slug))


@transaction.atomic
def seed_demo() -> DemoResult:
    result = DemoResult()
    operator = _user("operator@marketplace.example", "Platform Operator", staff=True)
    result.logins.append(DemoLogin(operator.email, "operator", "-"))
    for slug, name, sector, country, offer in VENDORS:
        organization, _ = Organization.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "kind": Organization.Kind.VENDOR,
                "sector": sector,
                "country": country,
                "description": offer,
                "partnership_offer": offer,
                "legal_name": f"{name} Ltd.",
                "registration_number": f"REG-{slug.upper()}",
                "contact_email": f"partners@{slug}.example",
                "partner_terms_version": PARTNER_TERMS_VERSION,
                "partner_terms_accepted_at": timezone.now(),
                "verified_at": timezone.now(),
                "verified_by": operator,
            },
        )
        _members(organization, result)
        result.clients.append(_client(organization, ApiClient.Role.ADMIN))
    for slug, name, sector, country, sites in PROVIDERS:
        organization, _ = Organization.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "kind": Organization.Kind.PROVIDER,
                "sector": sector,
                "country": country,
                "description": f"{name}: a provider on the marketplace.",
            },
        )
        for site_name, kind, posture in sites:
            Site.objects.get_or_create(
                organization=organization,
                name=site_name,
                defaults={"kind": kind, "network_posture": posture, "country": country},
            )
        _members(organization, result)
        result.clients.append(_client(organization, ApiClient.Role.ADMIN))
        result.clients.append(_client(organization, ApiClient.Role.READ_ONLY))
    return result
