from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "phidesk.identity"
    label = "identity"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from phidesk.identity import auth_events  # noqa: F401  (connects the receivers)
