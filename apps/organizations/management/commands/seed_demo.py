"""`manage.py seed_demo`: demo organizations, people, sites and API clients, then the demo
catalog (apps/catalog/demo.py); prints the logins.

Idempotent. Refuses to run with DEBUG off: the demo credentials are public."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.analytics.demo import seed_analytics_demo
from apps.catalog.demo import seed_catalog_demo
from apps.organizations.demo import DEMO_PASSWORD, seed_demo
from apps.procurement.demo import seed_procurement_demo


class Command(BaseCommand):
    help = "Load demo organizations, people, sites, API clients and catalog (DEBUG only; safe to run again)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo refuses to run with DEBUG off: its credentials are public.")
        result = seed_demo()
        published = seed_catalog_demo()
        quotes = seed_procurement_demo()
        seed_analytics_demo()
        self.stdout.write(
            self.style.SUCCESS(f"Demo data is loaded: {published} published listings, {quotes} new quote requests.")
        )
        login_url = f"{settings.MARKETPLACE_BASE_URL}/accounts/login/"
        self.stdout.write(f"\nSign in at {login_url} with password: {DEMO_PASSWORD}")
        for login in result.logins:
            self.stdout.write(f"  {login.email:<36} {login.role:<9} {login.organization}")
        self.stdout.write("\nAPI clients (POST /o/token/ with grant_type=client_credentials):")
        for client in result.clients:
            self.stdout.write(
                f"  {client.organization:<12} {client.role:<9} client_id={client.client_id}  "
                f"client_secret={client.client_secret}"
            )
