from django.apps import AppConfig


class RedemptionsConfig(AppConfig):
    name = "apps.redemptions"
    label = "redemptions"
    verbose_name = "Redemptions"
    default_auto_field = "django.db.models.BigAutoField"
