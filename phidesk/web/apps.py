from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "phidesk.web"
    label = "web"
