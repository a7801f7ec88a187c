#!/usr/bin/env python
"""Django's command-line utility for WRD (also: rdpserver, desktop, serve, bootstrap_admin)."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webconsole.config.django.base")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
