"""python manage.py erase_personal_data --email EMAIL --operator OPERATOR_EMAIL --yes: erase a
person (pseudonymize: records and the audit log keep their rows; the account is closed)."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import User
from apps.accounts.privacy import person_erase
from marketplace.principal import operator_principal


class Command(BaseCommand):
    help = "Erase a person's name and e-mail everywhere by a pseudonym and close the account (cannot be undone)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--operator", required=True, help="the operator who handles the request (audited)")
        parser.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["yes"]:
            raise CommandError("This cannot be undone: add --yes to confirm.")
        user = User.objects.filter(email__iexact=options["email"]).first()
        operator = User.objects.filter(email__iexact=options["operator"], is_staff=True, is_active=True).first()
        if user is None:
            raise CommandError("Nobody with that e-mail.")
        if operator is None:
            raise CommandError("--operator must name an active operator.")
        result = person_erase(user=user, actor=operator_principal(operator))
        self.stdout.write(json.dumps(result, indent=2, default=str))
