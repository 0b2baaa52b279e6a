from django.contrib.admin.apps import AdminConfig


class StoreAdminConfig(AdminConfig):
    """django.contrib.admin with the store's site (storefront.sites) as admin.site."""

    default_site = "storefront.sites.StoreAdminSite"
