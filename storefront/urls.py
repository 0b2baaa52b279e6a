from django.contrib import admin
from django.urls import include, path

from storefront.views import healthz_view

admin.site.site_header = "Backorder Storefront"
admin.site.site_title = "Backorder Storefront admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz_view, name="healthz"),
    path("", include("orders.urls")),
    path("", include("backorders.urls")),
    path("", include("catalog.urls")),
]
