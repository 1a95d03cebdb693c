from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Marketplace kernel"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # OpenAPI extensions register on import; tasks are imported so that the web process's
        # outbox finds them registered (and honours task_always_eager in tests).
        from marketplace import schema, tasks  # noqa: F401
