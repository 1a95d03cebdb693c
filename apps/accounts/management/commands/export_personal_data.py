"""python manage.py export_personal_data --email EMAIL: everything held about one person, as JSON."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import User
from apps.accounts.privacy import person_export


class Command(BaseCommand):
    help = "Print, as JSON, the personal data the platform holds about one person (a data subject request)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--email", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email__iexact=options["email"]).first()
        if user is None:
            raise CommandError("Nobody with that e-mail.")
        self.stdout.write(json.dumps(person_export(user=user), indent=2, default=str))
