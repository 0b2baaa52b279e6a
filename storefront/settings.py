"""Settings for every environment, read from the environment (django-environ).

The embedded default (no variables set but DEBUG=true) runs on SQLite with Celery
tasks executed in-process and email written to files under var/mail/. Production sets
DATABASE_URL, CELERY_BROKER_URL, EMAIL_URL and SECRET_KEY; see .env.example.
"""

import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
# A production secret has no default: a missing SECRET_KEY must stop the process.
SECRET_KEY = (
    env("SECRET_KEY", default="django-insecure-demo-only-key-not-for-production")
    if DEBUG
    else env("SECRET_KEY")
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
# Absolute links in emails: a production store must say where it lives.
SITE_URL = (env("SITE_URL", default="http://127.0.0.1:8000") if DEBUG else env("SITE_URL")).rstrip(
    "/"
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "storefront.apps.StoreAdminConfig",  # django.contrib.admin, the store's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "csp",
    "axes",
    "django_ratelimit",
    "easy_thumbnails",
    "catalog",
    "orders",
    "backorders",
    "notifications",
    "payments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads the session cookie, the query or the form.
    "core.middleware.RejectControlCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "storefront.csp.StoreCSPMiddleware",
    # Last, as django-axes asks: it turns a lockout raised by the backend into a page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "storefront.urls"
WSGI_APPLICATION = "storefront.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.media",
                "orders.context_processors.cart_summary",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers proceed during a write; IMMEDIATE takes the write lock at BEGIN
    # so two writers queue on the busy timeout instead of failing on lock upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: rate limits and login lockouts, shared by every process ------------------
# A per-process cache would multiply every limit by the number of web processes, so a
# production store uses Redis: CACHE_URL, or else the broker's Redis.
CACHE_URL = env("CACHE_URL", default="")
if not CACHE_URL and env("CELERY_BROKER_URL", default="").startswith(("redis://", "rediss://")):
    # The broker's server, the next database: clearing the cache must never drop tasks.
    broker = urlsplit(env("CELERY_BROKER_URL"))
    database = int(broker.path.strip("/") or 0)
    CACHE_URL = urlunsplit(broker._replace(path=f"/{(database + 1) % 16}"))
if not CACHE_URL and not DEBUG:
    raise ImproperlyConfigured("Set CACHE_URL=redis://… (or a redis:// CELERY_BROKER_URL)")
CACHES = {"default": env.cache_url_config(CACHE_URL or "locmemcache://")}
if CACHES["default"]["BACKEND"].endswith("RedisCache"):
    CACHES["default"]["BACKEND"] = "core.cache.RedisCache"  # one client per pool (core.cache)
    # Each request reads its session and page here: a Redis that stops answering costs
    # it a second (and the database fallbacks), not the system's TCP timeout.
    CACHES["default"]["OPTIONS"] = {
        "socket_connect_timeout": 1,
        "socket_timeout": 1,
        **CACHES["default"].get("OPTIONS", {}),
    }
# Sessions are read from the cache and written through to the database, so a shopper's
# request reads no session row; with the cache down they are read from the database.
SESSION_ENGINE = "core.sessions"

# --- Auth, i18n, static -----------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out client
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = DEBUG  # the demo serves static files without collectstatic
# Product pictures staff upload and their thumbnails. The demo serves them itself; in
# production point the web server (or a CDN) at MEDIA_ROOT under MEDIA_URL.
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# One picture size for the catalog card and the product page (easy-thumbnails).
PRODUCT_THUMBNAIL = {"size": (480, 360), "crop": "smart", "quality": 85}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Email ------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Backorder Storefront <store@localhost>")
if env("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
EMAIL_MAX_ATTEMPTS = env.int("EMAIL_MAX_ATTEMPTS", default=6)
EMAIL_SWEEP_GRACE_SECONDS = env.int("EMAIL_SWEEP_GRACE_SECONDS", default=120)

# --- Celery -----------------------------------------------------------------------
# With no broker configured, tasks run in-process (the embedded default), as Saleor
# does; with one, they run on workers. Publishing must fail fast: a request whose
# transaction has committed never waits on a dead broker (the beat sweep catches up).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if CELERY_TASK_ALWAYS_EAGER:
    CELERY_BROKER_URL = "memory://"  # in-process: never dial Celery's default broker
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Longer than any task run or retry delay, so an unacked task is redelivered only
    # after its worker is really gone.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
# Email has a queue of its own, so a burst of deliveries never delays an allocation, and
# its workers can run a threads pool (sending is mostly waiting on the SMTP server).
# Every queue is declared, so a plain `celery -A storefront worker` (no -Q) consumes
# them all; a dedicated mailer is `-Q email`.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [Queue("celery"), Queue("email")]
CELERY_TASK_ROUTES = {"notifications.tasks.emails_deliver": {"queue": "email"}}
CELERY_BEAT_SCHEDULE = {
    "backorders-sweep": {"task": "backorders.tasks.backorders_sweep", "schedule": 60.0},
    "notifications-sweep": {"task": "notifications.tasks.emails_sweep", "schedule": 60.0},
    "backorder-reminders": {"task": "backorders.tasks.backorder_reminders", "schedule": 3600.0},
    # Dates move with the calendar too (an inbound falls overdue, a promise nears, an
    # answer's deadline passes); hourly, so a day's turn is caught within the hour.
    "promises-sweep": {"task": "orders.tasks.promises_sweep", "schedule": 3600.0},
    # Charges a lost task left, provider calls a dead worker left pending, payment
    # holds past their date.
    "payments-sweep": {"task": "orders.tasks.payments_sweep", "schedule": 300.0},
}

# --- Store policy -----------------------------------------------------------------
# Payments (docs/decisions/0013-charge-what-ships.md): Stripe when its secret key is
# set, else the built-in test provider. STRIPE_API_BASE points the client at another
# server (localstripe in the tests).
STORE_CURRENCY = env("STORE_CURRENCY", default="usd").lower()
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="")
STRIPE_JS_URL = env("STRIPE_JS_URL", default="https://js.stripe.com/v3/")
# Units allocated to a customer whose card then fails wait this long for another card,
# then go to the next customer in the queue.
PAYMENT_HOLD_DAYS = env.int("PAYMENT_HOLD_DAYS", default=3)
STORE_MAX_LINE_QUANTITY = env.int("STORE_MAX_LINE_QUANTITY", default=99)
# Back-orders served per transaction: larger is faster for a big restock, smaller holds
# the product's lock (and so its checkouts) for less time: 2,000 hold it ~0.1 s.
BACKORDER_ALLOCATION_BATCH_SIZE = env.int("BACKORDER_ALLOCATION_BATCH_SIZE", default=2000)
# The promise (docs/decisions/0012-promises-and-delay-notices.md): back-ordered units
# covered by a confirmed inbound are promised for its date plus HANDLING_DAYS; others
# for today plus DEFAULT_SHIP_WITHIN_DAYS (the FTC rule's 30 days when no date is
# stated). A line with no date gets its delay notice this many days before its promise.
HANDLING_DAYS = env.int("HANDLING_DAYS", default=2)
DEFAULT_SHIP_WITHIN_DAYS = env.int("DEFAULT_SHIP_WITHIN_DAYS", default=30)
DELAY_NOTICE_LEAD_DAYS = env.int("DELAY_NOTICE_LEAD_DAYS", default=7)
# Customers hear of a changed date once the changes have settled this long, so several
# edits in a minute tell them once. In-process (no broker, no beat) there is no later
# run to wait for: they are told at once.
PROMISE_CHANGE_BATCH_SECONDS = env.int(
    "PROMISE_CHANGE_BATCH_SECONDS", default=0 if CELERY_TASK_ALWAYS_EAGER else 60
)
# A waiting back-order gets a "still waiting" email once per this many days.
BACKORDER_REMINDER_DAYS = env.int("BACKORDER_REMINDER_DAYS", default=14)
# Per client address per 10 minutes, counted in the shared cache (django-ratelimit).
ORDER_LOOKUP_RATE_LIMIT = env.int("ORDER_LOOKUP_RATE_LIMIT", default=10)
BACK_IN_STOCK_SIGNUP_RATE_LIMIT = env.int("BACK_IN_STOCK_SIGNUP_RATE_LIMIT", default=10)
RATELIMIT_IP_META_KEY = "core.http.client_address"

# --- Security ---------------------------------------------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 60 * 60 * 24 * 30)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Load balancers probe the health check over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Proxies in front of the web processes that append to X-Forwarded-For; the client's
# address (for the order-lookup rate limit) is the entry this many from the right.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = [
    # Preloading HSTS is a one-way decision for the domain owner, not a default.
    "security.W021",
    # The Redis cache (Django's, core.cache) increments atomically; django-ratelimit lists
    # only django-redis by name (docs/decisions/0010-rate-limits-and-lockouts.md).
    "django_ratelimit.W001",
]
if CACHES["default"]["BACKEND"].endswith("LocMemCache"):
    # DEBUG only (production refuses to start without Redis): one process, one cache.
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")

# Admin login: django-axes locks a username at a client address out for
# AXES_COOLOFF_MINUTES after AXES_FAILURE_LIMIT wrong passwords (records in the database,
# so every process sees them).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
# The pair: one address guessing one account. A username alone would let anyone lock
# staff out from anywhere (decision 0010).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "core.http.client_address"
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"

# Content-Security-Policy (django-csp): shop pages load nothing inline and nothing from
# elsewhere but Stripe.js when Stripe is the provider; the admin is allowed inline
# styles (storefront/csp.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # In-process tasks still take a producer from the memory transport, which has no
    # host name to report; its warning about that says nothing useful.
    "loggers": {
        "kombu.connection": {"level": "ERROR" if CELERY_TASK_ALWAYS_EAGER else "INFO"},
        # In-process, every task's "succeeded in …" line lands in the demo's console.
        "celery.app.trace": {"level": "WARNING" if CELERY_TASK_ALWAYS_EAGER else "INFO"},
        "axes.apps": {"level": "WARNING"},  # its start-up banner, on every command
    },
}
