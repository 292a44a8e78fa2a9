from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "phidesk.tickets"
    label = "tickets"
    default_auto_field = "django.db.models.BigAutoField"
