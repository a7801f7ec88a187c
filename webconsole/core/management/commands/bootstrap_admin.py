"""Create the admin account on first run and print its generated password, once."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the 'admin' superuser with a generated password if it does not exist."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args, **opts) -> None:
        User = get_user_model()
        name = opts["username"]
        if User.objects.filter(username=name).exists():
            self.stdout.write(f"Admin account '{name}' exists (its password was printed when it was created; "
                              f"reset it with: .venv/bin/python manage.py changepassword {name}).")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=name, email="", password=password)
        bar = "=" * 64
        self.stdout.write(f"{bar}\nCreated admin account.  username: {name}   password: {password}\n"
                          f"This password is shown only once.\n{bar}")
