"""PHIdesk settings: everything from the environment, safe by default.

PHIDESK_ENV is `development` (the embedded default), `test` or `production`.
Production refuses to start with development defaults.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

from phidesk.config.env import ConfigError, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
PACKAGE_DIR = BASE_DIR / "phidesk"
VAR_DIR = Path(env_str("PHIDESK_VAR_DIR", str(BASE_DIR / "var")) or "var")
# Keys, the embedded database and the certificate live here: owner-only.
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)

PHIDESK_ENV = env_str("PHIDESK_ENV", "development") or "development"
if PHIDESK_ENV not in ("development", "test", "production"):
    raise ConfigError("PHIDESK_ENV must be development, test or production")
IS_PRODUCTION = PHIDESK_ENV == "production"
TESTING = PHIDESK_ENV == "test" or "PYTEST_XDIST_WORKER" in os.environ


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        if IS_PRODUCTION and len(key) < 50:
            raise ConfigError("SECRET_KEY must be at least 50 characters in production")
        return key
    if IS_PRODUCTION:
        raise ConfigError("SECRET_KEY (or SECRET_KEY_FILE) is required in production")
    if TESTING:
        return "test-only-" + "x" * 50
    # Embedded default: a key generated once and kept under var/ with mode 0600.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(64))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
if IS_PRODUCTION and DEBUG:
    raise ConfigError("DEBUG must be off in production")

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if IS_PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
if IS_PRODUCTION and not ALLOWED_HOSTS:
    raise ConfigError("ALLOWED_HOSTS is required in production")
CSRF_TRUSTED_ORIGINS = env_list(
    "CSRF_TRUSTED_ORIGINS",
    [] if IS_PRODUCTION else ["https://127.0.0.1:8443", "https://localhost:8443"],
)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "ninja",
    "phidesk.tenancy",
    "phidesk.crypto",
    "phidesk.identity",
    "phidesk.audit",
    "phidesk.tickets",
    "phidesk.web",
    "phidesk.config",
]

MIDDLEWARE = [
    "phidesk.web.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "phidesk.web.middleware.ActorMiddleware",
    "phidesk.web.middleware.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "phidesk.config.urls"
WSGI_APPLICATION = "phidesk.config.wsgi.application"
ASGI_APPLICATION = "phidesk.config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "web" / "templates"],  # ours override allauth's
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "phidesk.web.context.desk",
            ],
        },
    }
]


def _database() -> dict[str, object]:
    url = env_str("DATABASE_URL")
    if TESTING and env_str("PHIDESK_TEST_DATABASE_URL"):
        url = env_str("PHIDESK_TEST_DATABASE_URL")
    if not url:
        if IS_PRODUCTION:
            raise ConfigError("DATABASE_URL is required in production")
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{VAR_DIR / 'phidesk.sqlite3'}"
    config: dict[str, object] = dict(dj_database_url.parse(url, conn_max_age=60))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # IMMEDIATE: writers queue on the database lock instead of failing mid-transaction.
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        config["CONN_MAX_AGE"] = 0
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "identity.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# django-allauth: sign-in by email; accounts come from an administrator (SCIM later).
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_ADAPTER = "phidesk.web.auth.DeskAccountAdapter"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key"}
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_PREVENT_ENUMERATION = True
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGOUT_REDIRECT_URL = "/accounts/login/"

# Sessions and cookies: short-lived, HTTPS-only outside tests.
SECURE_COOKIES = env_bool("PHIDESK_SECURE_COOKIES", not TESTING)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("PHIDESK_SESSION_SECONDS", 8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_NAME = "__Host-phidesk_session" if SECURE_COOKIES else "phidesk_session"
CSRF_COOKIE_NAME = "__Host-phidesk_csrf" if SECURE_COOKIES else "phidesk_csrf"
SECURE_SSL_REDIRECT = env_bool("PHIDESK_SSL_REDIRECT", IS_PRODUCTION)
SECURE_HSTS_SECONDS = env_int("PHIDESK_HSTS_SECONDS", 0 if TESTING else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("PHIDESK_HSTS_PRELOAD", IS_PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("PHIDESK_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC") or "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if TESTING or DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = TESTING or DEBUG

# No request bodies beyond 2.5 MB outside file uploads; API payloads are small.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

NINJA_PAGINATION_PER_PAGE = 25

# Encryption at rest (phidesk.crypto, docs/crypto.md). The root key provider wraps the
# per-tenant keys; `local` (a 0600 key file under var/, one per environment) is the
# embedded default. Secrets may come from *_FILE variables.
PHIDESK_KEY_PROVIDER = env_str("PHIDESK_KEY_PROVIDER", "local") or "local"
if PHIDESK_KEY_PROVIDER not in ("local", "pkcs11", "aws-kms"):
    raise ConfigError("PHIDESK_KEY_PROVIDER must be local, pkcs11 or aws-kms")
PHIDESK_LOCAL_KEY_FILE = Path(
    env_str("PHIDESK_LOCAL_KEY_FILE", "") or VAR_DIR / "keys" / f"root-{PHIDESK_ENV}.key"
)
PHIDESK_PKCS11_LIB = env_str("PHIDESK_PKCS11_LIB", "/usr/lib/softhsm/libsofthsm2.so")
PHIDESK_PKCS11_TOKEN = env_str("PHIDESK_PKCS11_TOKEN", "phidesk") or "phidesk"
PHIDESK_PKCS11_PIN = env_str("PHIDESK_PKCS11_PIN")
PHIDESK_PKCS11_KEY_LABEL = env_str("PHIDESK_PKCS11_KEY_LABEL", "phidesk-root") or "phidesk-root"
PHIDESK_KMS_KEY_ID = env_str("PHIDESK_KMS_KEY_ID")
PHIDESK_KMS_ENDPOINT = env_str("PHIDESK_KMS_ENDPOINT")
PHIDESK_KMS_REGION = env_str("PHIDESK_KMS_REGION", os.environ.get("AWS_REGION", "us-east-1"))
if PHIDESK_KEY_PROVIDER == "pkcs11" and not PHIDESK_PKCS11_PIN:
    raise ConfigError("PHIDESK_PKCS11_PIN (or PHIDESK_PKCS11_PIN_FILE) is required for pkcs11")
if PHIDESK_KEY_PROVIDER == "aws-kms" and not PHIDESK_KMS_KEY_ID:
    raise ConfigError("PHIDESK_KMS_KEY_ID is required for aws-kms")
# Unwrapped tenant keys stay in memory at most this long (0 disables the cache).
PHIDESK_KEY_CACHE_SECONDS = env_int("PHIDESK_KEY_CACHE_SECONDS", 300)
if not 0 <= PHIDESK_KEY_CACHE_SECONDS <= 300:
    raise ConfigError("PHIDESK_KEY_CACHE_SECONDS must be 0 to 300")
PHIDESK_KEK_MAX_AGE_DAYS = env_int("PHIDESK_KEK_MAX_AGE_DAYS", 365)
if PHIDESK_KEK_MAX_AGE_DAYS < 1:
    raise ConfigError("PHIDESK_KEK_MAX_AGE_DAYS must be at least 1")

# Audit trail (phidesk.audit, docs/audit.md). Events are kept at least 6 years (HIPAA);
# checkpoints are signed every <= 60 s or <= 10,000 events and written to a WORM store.
PHIDESK_AUDIT_RETENTION_DAYS = env_int("PHIDESK_AUDIT_RETENTION_DAYS", 2192)
if PHIDESK_AUDIT_RETENTION_DAYS < 2192:
    raise ConfigError(
        f"PHIDESK_AUDIT_RETENTION_DAYS is {PHIDESK_AUDIT_RETENTION_DAYS}; audit events must be "
        "kept at least 2192 days (6 years)"
    )
PHIDESK_AUDIT_ORIGIN = (
    env_str("PHIDESK_AUDIT_ORIGIN", "phidesk.local/audit") or "phidesk.local/audit"
)
PHIDESK_AUDIT_WORM_DIR = Path(
    env_str("PHIDESK_AUDIT_WORM_DIR", "") or VAR_DIR / "audit-checkpoints"
)
PHIDESK_AUDIT_SIGNING_KEY_FILE = Path(
    env_str("PHIDESK_AUDIT_SIGNING_KEY_FILE", "") or VAR_DIR / "audit-signing.key"
)
PHIDESK_AUDIT_TRUSTED_KEYS = env_list("PHIDESK_AUDIT_TRUSTED_KEYS", [])
# Audit search finds a patient's events by the same blind index tickets carry.
PHIDESK_AUDIT_PATIENT_INDEXER = "phidesk.crypto.services.patient_index"
PHIDESK_AUDIT_CHECKPOINT_SECONDS = env_int("PHIDESK_AUDIT_CHECKPOINT_SECONDS", 60)
PHIDESK_AUDIT_CHECKPOINT_EVENTS = env_int("PHIDESK_AUDIT_CHECKPOINT_EVENTS", 10_000)
if not 1 <= PHIDESK_AUDIT_CHECKPOINT_SECONDS <= 60:
    raise ConfigError("PHIDESK_AUDIT_CHECKPOINT_SECONDS must be 1 to 60")
if not 1 <= PHIDESK_AUDIT_CHECKPOINT_EVENTS <= 10_000:
    raise ConfigError("PHIDESK_AUDIT_CHECKPOINT_EVENTS must be 1 to 10000")
# thread: one background thread per process; inline: after commit, in the request; off:
# only `phidesk audit checkpoint [--every 60]` (the default in tests).
PHIDESK_AUDIT_CHECKPOINT_MODE = (
    env_str("PHIDESK_AUDIT_CHECKPOINT_MODE", "off" if TESTING else "thread") or "thread"
)
if PHIDESK_AUDIT_CHECKPOINT_MODE not in ("thread", "inline", "off"):
    raise ConfigError("PHIDESK_AUDIT_CHECKPOINT_MODE must be thread, inline or off")

# Email (PHI-free notices only, e.g. scheduled audit reports) and the address links in
# them start with. With EMAIL_HOST set, mail goes out over SMTP (STARTTLS by default);
# otherwise it is printed to the console in development, kept in memory in tests, and
# handed to an SMTP server on localhost in production.
EMAIL_HOST = env_str("EMAIL_HOST", "") or ""
EMAIL_PORT = env_int("EMAIL_PORT", 587 if EMAIL_HOST else 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "") or ""
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "") or ""  # or EMAIL_HOST_PASSWORD_FILE
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", bool(EMAIL_HOST))
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "") or "PHIdesk <phidesk@localhost>"
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "") or (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST or IS_PRODUCTION
    else "django.core.mail.backends.locmem.EmailBackend"
    if TESTING
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = EMAIL_HOST or "localhost"
if EMAIL_HOST_USER and not EMAIL_USE_TLS and IS_PRODUCTION:
    raise ConfigError("EMAIL_USE_TLS must be on when EMAIL_HOST_USER sends a password")
PHIDESK_BASE_URL = (env_str("PHIDESK_BASE_URL", "") or "https://127.0.0.1:8443").rstrip("/")
if not PHIDESK_BASE_URL.startswith(("https://", "http://")) or (
    IS_PRODUCTION and not PHIDESK_BASE_URL.startswith("https://")
):
    raise ConfigError("PHIDESK_BASE_URL must be an https:// address (http:// outside production)")

# Logs never carry request bodies; see docs/threat-model.md.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
