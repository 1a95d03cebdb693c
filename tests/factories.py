"""factory_boy factories: named example data, not fixture files."""

from __future__ import annotations

import factory
from django.utils import timezone

from apps.accounts.models import User
from apps.organizations.models import Membership, Organization, Site


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.org")
    full_name = factory.Faker("name")
    email_confirmed_at = factory.LazyFunction(timezone.now)
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"organization-{n}")
    kind = Organization.Kind.PROVIDER
    sector = Organization.Sector.BUSINESS
    country = "DE"


class VendorFactory(OrganizationFactory):
    kind = Organization.Kind.VENDOR
    legal_name = factory.LazyAttribute(lambda o: f"{o.name} GmbH")
    registration_number = factory.Sequence(lambda n: f"HRB {10000 + n}")
    contact_email = factory.Sequence(lambda n: f"partners{n}@vendor.example")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = "member"


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Hospital {n}")
    kind = Site.Kind.HOSPITAL
    network_posture = Site.NetworkPosture.CLOUD_CONNECTED
    country = "DE"
