from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "phidesk.audit"
    label = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from phidesk.audit import checks  # noqa: F401  (registers the system checks)
