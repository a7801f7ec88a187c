"""The API's URL mount: every installed WRD app whose ``urls`` module has an
``api_urlpatterns`` list contributes it, in ``INSTALLED_APPS`` order. ``webconsole/urls.py``
mounts the result at ``/api/v1/`` (namespace ``api``, the documented one) and again at
``/api/`` (namespace ``api-legacy``, the same views, for clients written before versioning)."""

from __future__ import annotations

import importlib

from django.apps import apps


def api_urlpatterns() -> list:
    patterns: list = []
    for config in apps.get_app_configs():
        if not config.name.startswith("webconsole."):
            continue
        try:
            module = importlib.import_module(f"{config.name}.urls")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.urls":
                raise
            continue
        patterns.extend(getattr(module, "api_urlpatterns", []))
    return patterns
