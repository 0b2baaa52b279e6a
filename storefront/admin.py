"""Behaviour every registered ModelAdmin gets, the store's, Django's own (users,
groups) and the libraries' (django-axes) alike. The site itself is storefront.sites."""

from django.contrib import admin

from core.admin import CheckedSelectionMixin

# Imported by the URLconf, so after every app's admin module has registered its models.
# Django offers no public way to list the registry.
for model, model_admin in list(admin.site._registry.items()):
    if not isinstance(model_admin, CheckedSelectionMixin):
        admin.site.unregister(model)
        checked = type(type(model_admin).__name__, (CheckedSelectionMixin, type(model_admin)), {})
        admin.site.register(model, checked)
