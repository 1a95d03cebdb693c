"""The Celery app: `celery -A config worker` and `celery -A config beat`.

Configured from Django settings with the CELERY_ prefix (cookiecutter-django style).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("marketplace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["marketplace", "apps.provisioning", "apps.procurement", "apps.webhooks"])


def _ensure_broker_folders() -> None:
    # kombu's filesystem transport needs its folders to exist before the first publish.
    from django.conf import settings

    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)


@app.on_after_configure.connect
def _on_after_configure(sender: Celery, **kwargs: object) -> None:
    _ensure_broker_folders()


@app.on_after_finalize.connect
def _connect_request_ids(sender: Celery, **kwargs: object) -> None:
    from marketplace.logging import connect_celery_signals
    from marketplace.metrics import connect_task_metrics

    connect_celery_signals()
    connect_task_metrics()
