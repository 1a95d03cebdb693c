from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "apps.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from apps.webhooks import privacy as _privacy  # noqa: F401  (personal-data signals)
        from apps.webhooks import receivers, tasks  # noqa: F401
