from django.apps import AppConfig


class BackordersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "backorders"
    verbose_name = "Back-orders and stock"
