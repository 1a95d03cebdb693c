from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "apps.organizations"
    label = "organizations"
    verbose_name = "Organizations"

    def ready(self) -> None:
        from apps.organizations import privacy as _privacy  # noqa: F401  (personal-data signals)
