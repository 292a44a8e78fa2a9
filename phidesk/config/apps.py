from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """Holds the operator commands (`phidesk serve`, `phidesk demo`, ...)."""

    name = "phidesk.config"
    label = "phidesk_config"
