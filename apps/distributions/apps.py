from django.apps import AppConfig


class DistributionsConfig(AppConfig):
    name = "apps.distributions"
    label = "distributions"
    verbose_name = "Distributions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Recorded customer events start live automatic distributions (apps.core.reactions).
        from apps.core import reactions
        from apps.distributions.pipeline.queue import schedule_consume

        reactions.subscribe(reactions.CUSTOMER_EVENTS, schedule_consume)
