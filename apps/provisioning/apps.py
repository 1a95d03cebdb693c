from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "apps.provisioning"
    label = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        from apps.provisioning import privacy as _privacy  # noqa: F401  (personal-data signals)
        from apps.provisioning import tasks  # noqa: F401  (registered for the outbox)
        from apps.provisioning.backends import register_backend
        from apps.provisioning.fulfillment import VendorFulfillmentBackend
        from apps.provisioning.onprem import HybridBackend, SiteAgentBackend

        for backend in (VendorFulfillmentBackend(), SiteAgentBackend(), HybridBackend()):
            register_backend(backend)
