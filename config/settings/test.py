"""Test settings: the embedded defaults made fast and quiet (cookiecutter-django style)."""

import os

from config.settings.base import *  # noqa: F403
from config.settings.base import env_bool

DEBUG = False
SECRET_KEY = "test-only-not-secret"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"}}
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
MEDIA_ROOT = VAR_DIR / "test-media"  # noqa: F405
MARKETPLACE_ALLOW_PRIVATE_OUTBOUND = True
# Tasks run inline unless a test starts a real worker (tests marked `services`).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)
CELERY_TASK_EAGER_PROPAGATES = True
if not CELERY_BROKER_URL.startswith("filesystem://"):  # noqa: F405
    # A killed worker's messages come back quickly in the kill tests.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "10"))}
else:
    BROKER_DIR = VAR_DIR / "test-broker"  # noqa: F405
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
REST_FRAMEWORK = {**REST_FRAMEWORK}  # noqa: F405
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"principal": "100000/min", "address": "100000/min"}
# Cached search counts are keyed by the catalog's change counter, which moves after commit: in
# tests that never commit it would not move. tests/catalog/test_search_summary_cache.py turns it on.
MARKETPLACE_CATALOG_SUMMARY_CACHE_SECONDS = 0
# One task per step, so tests can stop between steps; the real-worker tests switch the production
# behaviour (steps run on in one task) back on through the environment.
MARKETPLACE_PROVISIONING_INLINE_SECONDS = float(os.environ.get("MARKETPLACE_PROVISIONING_INLINE_SECONDS", "0"))
MARKETPLACE_SANDBOX = {
    "step_seconds": float(os.environ.get("MARKETPLACE_SANDBOX_STEP_SECONDS", "0")),
    "fail_step": os.environ.get("MARKETPLACE_SANDBOX_FAIL_STEP", ""),
    "transient_failures": int(os.environ.get("MARKETPLACE_SANDBOX_TRANSIENT_FAILURES", "0")),
    # A wait in every call that the estimates do not announce: a backend slower than it says.
    "latency_seconds": float(os.environ.get("MARKETPLACE_SANDBOX_LATENCY_SECONDS", "0")),
}
