"""The admin site as a whole: its titles, and behaviour every registered ModelAdmin gets,
the store's, Django's own (users, groups) and the libraries' (django-axes) alike."""

from django.contrib import admin

from core.admin import CheckedSelectionMixin

admin.site.site_header = "Backorder Storefront"
admin.site.site_title = "Backorder Storefront admin"

# Imported by the URLconf, so after every app's admin module has registered its models.
# Django offers no public way to list the registry.
for model, model_admin in list(admin.site._registry.items()):
    if not isinstance(model_admin, CheckedSelectionMixin):
        admin.site.unregister(model)
        checked = type(type(model_admin).__name__, (CheckedSelectionMixin, type(model_admin)), {})
        admin.site.register(model, checked)
