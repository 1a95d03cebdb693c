from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "apps.catalog"
    label = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        from apps.catalog import freshness, signals  # noqa: F401  (keeps search text current when a vendor is renamed)
        from apps.catalog import privacy as _privacy  # noqa: F401  (personal-data signals)

        freshness.connect()
