from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

import storefront.admin  # noqa: F401  (the admin site's set-up)
from storefront.views import favicon_view, healthz_view, not_found_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz_view, name="healthz"),
    path("favicon.ico", favicon_view),
    path("", include("orders.urls")),
    path("", include("backorders.urls")),
    path("", include("catalog.urls")),
    # The demo's product pictures (DEBUG only: production serves MEDIA_ROOT itself).
    *static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT),
]

handler404 = not_found_view
