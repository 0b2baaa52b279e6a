"""The store's admin site: Django's, with the back-order dashboard as the landing page
for staff allowed to see it (backorders.view_dashboard)."""

from django.contrib import admin

from backorders.charts import dashboard_charts
from backorders.selectors import dashboard


class StoreAdminSite(admin.AdminSite):
    site_header = "Backorder Storefront"
    site_title = "Backorder Storefront admin"
    index_title = "Dashboard"
    index_template = "admin/dashboard.html"

    def index(self, request, extra_context=None):
        extra_context = dict(extra_context or {})
        if request.user.has_perm("backorders.view_dashboard"):
            figures = dashboard()
            extra_context.update(figures=figures, charts=dashboard_charts(figures))
        else:
            extra_context["title"] = "Site administration"
        return super().index(request, extra_context)
