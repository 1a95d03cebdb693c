from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Marketplace kernel"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from marketplace import schema  # noqa: F401  (OpenAPI extensions register on import)
