from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.views import defaults
from django.views.decorators.cache import never_cache
from kombu import Connection


def favicon_view(request):
    """Browsers that ask for /favicon.ico before reading the page's icon link."""
    return redirect(static("favicon.svg"), permanent=True)


@never_cache
def healthz_view(request):
    """200 when every configured dependency answers, else 503; no broker is fine."""
    state = {"database": _database_state(), "broker": _broker_state()}
    healthy = state["database"] == "ok" and state["broker"] in ("ok", "not configured")
    return JsonResponse(state, status=200 if healthy else 503)


def _database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return "unreachable"
    return "ok"


def _broker_state() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "not configured"
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
    except Exception:
        return "unreachable"
    return "ok"


def not_found_view(request, exception):
    """Django's 404 page, but JSON where a client expects JSON (status.json)."""
    if request.path.endswith("/status.json"):
        return JsonResponse({"error": "not found"}, status=404)
    return defaults.page_not_found(request, exception)
