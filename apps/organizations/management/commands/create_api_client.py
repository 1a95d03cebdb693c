"""`manage.py create_api_client --org SLUG --name NAME [--role read_only|member|admin]`.

Prints `{"client_id", "client_secret"}` as JSON; the secret is stored hashed and never shown again.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.organizations.models import ApiClient, Organization
from apps.organizations.services import api_client_create
from marketplace.errors import ApplicationError
from marketplace.principal import SYSTEM


class Command(BaseCommand):
    help = "Create an OAuth2 client-credentials API client for an organization and print its credentials as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="the organization's slug")
        parser.add_argument("--name", required=True, help="a name for people to recognise the client by")
        parser.add_argument("--role", default=ApiClient.Role.ADMIN, choices=ApiClient.Role.values)

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"No organization with slug '{options['org']}'.")
        try:
            client, secret = api_client_create(
                organization=organization, name=options["name"], role=options["role"], actor=SYSTEM
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps({"client_id": client.client_id, "client_secret": secret}))
