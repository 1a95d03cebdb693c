"""Factories for the organizations app beyond the shared ones in tests/factories.py."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import factory
from django.utils import timezone

from apps.organizations.models import Invitation
from tests.factories import OrganizationFactory


class InvitationFactory(factory.django.DjangoModelFactory):
    """A pending invitation (its token is not kept: tests that accept one use the service)."""

    class Meta:
        model = Invitation

    organization = factory.SubFactory(OrganizationFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.org")
    role = "member"
    token_hash = factory.LazyFunction(lambda: hashlib.sha256(secrets.token_bytes(16)).hexdigest())
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=14))
