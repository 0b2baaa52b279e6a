"""The ceiling for the pages benchmark: a bare Django project with one view answering
"hello", served by gunicorn exactly as the store is (DJANGO_SETTINGS_MODULE=bench.hello,
WSGI application bench.hello_wsgi). Django's default middleware, no database."""

from django.http import HttpResponse
from django.urls import path

SECRET_KEY = "bench-hello-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = "bench.hello"
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
INSTALLED_APPS: list[str] = []
DATABASES: dict = {}


def hello_view(request):
    return HttpResponse("hello")


urlpatterns = [path("", hello_view)]
