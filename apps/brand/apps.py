from django.apps import AppConfig


class BrandConfig(AppConfig):
    name = "apps.brand"
    label = "brand"
    verbose_name = "Brand console"
