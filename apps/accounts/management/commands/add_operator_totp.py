"""python manage.py add_operator_totp --email EMAIL: a TOTP device for an operator (the second
factor the operator console asks for when MARKETPLACE_OPERATOR_2FA is on, always in production).
Prints the otpauth:// address to scan with an authenticator app, once."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import User


class Command(BaseCommand):
    help = "Create a TOTP device for an operator and print its otpauth:// address (shown once)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--name", default="authenticator app")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email__iexact=options["email"], is_staff=True, is_active=True).first()
        if user is None:
            raise CommandError("No active operator (staff user) with that e-mail.")
        device = TOTPDevice.objects.create(user=user, name=options["name"], confirmed=True)
        self.stdout.write(f"TOTP device '{device.name}' for {user.email}. Scan this address once:")
        self.stdout.write(device.config_url)
