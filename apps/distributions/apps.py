from django.apps import AppConfig


class DistributionsConfig(AppConfig):
    name = "apps.distributions"
    label = "distributions"
    verbose_name = "Distributions"
    default_auto_field = "django.db.models.BigAutoField"
