from django.apps import AppConfig


class ProcurementConfig(AppConfig):
    name = "apps.procurement"
    label = "procurement"
    verbose_name = "Procurement"

    def ready(self) -> None:
        from apps.procurement import receivers, tasks  # noqa: F401
