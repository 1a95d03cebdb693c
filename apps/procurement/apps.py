from django.apps import AppConfig


class ProcurementConfig(AppConfig):
    name = "apps.procurement"
    label = "procurement"
    verbose_name = "Procurement"

    def ready(self) -> None:
        from apps.procurement import privacy as _privacy  # noqa: F401  (personal-data signals)
        from apps.procurement import receivers, tasks  # noqa: F401
        from apps.procurement.services import licenses
        from apps.provisioning.hooks import licensing

        licensing.license_for = licenses.license_token_for_deployment
        licensing.sign = lambda payload, typ: licenses.document_sign(payload, typ=typ)[0]
        licensing.jwks = licenses.licensing_jwks
        licensing.revocations = licenses.revocation_list
        licensing.revoke_superseded = licenses.licenses_revoke_superseded
