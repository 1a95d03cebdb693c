"""python manage.py rotate_license_key: a new active signing key; older keys stay in the JWKS."""

from typing import Any

from django.core.management.base import BaseCommand

from apps.procurement.services import licensing_jwks, signing_key_rotate


class Command(BaseCommand):
    help = "Make a new license signing key active. Older keys stay published, so their licenses still verify."

    def handle(self, *args: Any, **options: Any) -> None:
        key = signing_key_rotate()
        published = [jwk["kid"] for jwk in licensing_jwks()["keys"]]
        self.stdout.write(f"Active license signing key: {key.kid}")
        self.stdout.write(f"Published keys ({len(published)}): {', '.join(published)}")
