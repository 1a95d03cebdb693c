"""Embedded default for `make run`: SQLite, filesystem broker, local files, debug on."""

from config.settings.base import *  # noqa: F403
from config.settings.base import env_bool

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = SECRET_KEY or "local-development-only-not-secret"  # noqa: F405
# Local demos may call vendor endpoints and webhook receivers on this machine.
MARKETPLACE_ALLOW_PRIVATE_OUTBOUND = env_bool("MARKETPLACE_ALLOW_PRIVATE_OUTBOUND", True)
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
