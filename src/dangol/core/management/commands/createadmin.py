"""``dangol createadmin --email E --password P``: create (or reset) an administrator."""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dangol.core.errors import ServiceError
from dangol.core.models import User
from dangol.core.services import create_user


class Command(BaseCommand):
    help = "Create an administrator account (non-interactive with --email and --password)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", help="Prompted for when omitted on a terminal.")
        parser.add_argument("--name", default="", help="Display name.")
        parser.add_argument(
            "--reset-password",
            action="store_true",
            help="If the user exists, set the password and make it an administrator.",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        email = opts["email"].strip().lower()
        password = opts["password"]
        if password is None:
            if not sys.stdin.isatty():
                raise CommandError("give --password (no terminal to ask on)")
            password = getpass.getpass("Password: ")
        existing = User.objects.filter(email=email).first()
        try:
            validate_password(password, existing)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if existing is not None:
            if not opts["reset_password"]:
                raise CommandError(f"{email} exists already (use --reset-password to reset it)")
            existing.set_password(password)
            existing.is_superuser = existing.is_staff = existing.is_active = True
            existing.failed_logins = 0
            existing.locked_until = None
            existing.save()
            self.stdout.write(f"Administrator {email} updated.")
            return
        try:
            create_user(
                email=email,
                password=password,
                display_name=opts["name"] or email.split("@")[0],
                is_superuser=True,
            )
        except ServiceError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Administrator {email} created."))
