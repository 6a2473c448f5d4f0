"""Configuration, read from the environment.

Every setting has a development default so that `make run` works on a fresh machine;
`BATON_ENV=production` turns the defaults that would be unsafe into hard failures.
"""
import os
import secrets
from pathlib import Path

INSTANCE_DIR = Path(os.environ.get("BATON_INSTANCE_DIR", Path(__file__).resolve().parent.parent / "instance"))


class ConfigError(RuntimeError):
    """Raised at start-up when the configuration is unsafe or incomplete."""


def normalise_database_url(url: str) -> str:
    """Map a plain `postgresql://` URL, as hosting providers give it, to the installed driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _dev_secret_key() -> str:
    """Generate a development secret once and keep it in instance/ so tokens survive restarts."""
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


VAPID_FILE = "vapid.json"


def _vapid_keys(production: bool) -> dict:
    """VAPID keys from the environment (SSM in AWS); in development, from instance/vapid.json if present."""
    private_key, public_key = os.environ.get("VAPID_PRIVATE_KEY"), os.environ.get("VAPID_PUBLIC_KEY")
    if private_key and public_key:
        return {"private_key": private_key, "public_key": public_key}
    if production:
        raise ConfigError("VAPID_PRIVATE_KEY and VAPID_PUBLIC_KEY must be set in production")
    path = INSTANCE_DIR / VAPID_FILE
    if path.exists():
        import json

        return json.loads(path.read_text())
    return {}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


SSM_NAMES = ("SECRET_KEY", "DATABASE_URL", "VAPID_PRIVATE_KEY", "VAPID_PUBLIC_KEY",
             # The chat channels' app secrets (docs/design.md §14)
             "BATON_DINGTALK_APP_SECRET", "BATON_WECOM_SECRET", "BATON_FEISHU_APP_SECRET", "BATON_ALIYUN_SMS_ACCESS_KEY_SECRET")

CHANNEL_NAMES = ("webpush", "dingtalk", "wecom", "feishu", "sms")


def _channels() -> list[str]:
    """BATON_CHANNELS: the channels enabled, in ladder order (default: Web Push only)."""
    names = [n.strip().lower() for n in os.environ.get("BATON_CHANNELS", "webpush").split(",") if n.strip()]
    unknown = [n for n in names if n not in CHANNEL_NAMES]
    if unknown:
        raise ConfigError(f"BATON_CHANNELS names unknown channels {unknown}; known: {', '.join(CHANNEL_NAMES)}")
    if len(set(names)) != len(names):
        raise ConfigError("BATON_CHANNELS names a channel twice")
    sms_provider = os.environ.get("BATON_SMS_PROVIDER", "sns")
    if "sms" in names and sms_provider not in ("sns", "aliyun"):
        raise ConfigError(f"BATON_SMS_PROVIDER {sms_provider!r} is not known (sns, aliyun)")
    return names


def load_ssm_parameters(prefix: str) -> None:
    """Copy secrets stored as SSM parameters under `prefix` into the environment (AWS; once per container)."""
    import boto3

    client = boto3.client("ssm", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
    paginator = client.get_paginator("get_parameters_by_path")
    for page in paginator.paginate(Path=prefix, WithDecryption=True, Recursive=False):
        for parameter in page["Parameters"]:
            name = parameter["Name"].rsplit("/", 1)[-1]
            if name in SSM_NAMES and not os.environ.get(name):
                os.environ[name] = parameter["Value"]


def parse_step_up(text: str) -> dict[str, int | None]:
    """BATON_STEP_UP, `P1=2m,P2=10m,P3=1h,P4=off`: seconds per priority before the next channel (None: never)."""
    units = {"s": 1, "m": 60, "h": 3600}
    found: dict[str, int | None] = {"P1": 120, "P2": 600, "P3": 3600, "P4": None}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        priority, _, value = (p.strip() for p in part.partition("="))
        value = value.lower()
        if priority.upper() not in found:
            raise ConfigError(f"BATON_STEP_UP: {part.strip()!r} names no priority P1-P4")
        if value == "off":
            found[priority.upper()] = None
        elif value[-1:] in units and value[:-1].isdigit() and int(value[:-1]) > 0:
            found[priority.upper()] = int(value[:-1]) * units[value[-1]]
        else:
            raise ConfigError(f"BATON_STEP_UP: {part.strip()!r} is not like P1=2m, P3=1h or P4=off")
    return found


def from_environment() -> dict:
    """Build the Flask configuration mapping from environment variables."""
    if os.environ.get("BATON_SSM_PREFIX"):
        load_ssm_parameters(os.environ["BATON_SSM_PREFIX"])
    env = os.environ.get("BATON_ENV", "development")
    production = env == "production"
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'baton.db'}"
    secret_key = os.environ.get("SECRET_KEY")
    if production:
        if not secret_key or len(secret_key) < 32 or secret_key.startswith("dev"):
            raise ConfigError("SECRET_KEY must be set to a random value of at least 32 characters in production")
    elif not secret_key:
        secret_key = _dev_secret_key()
    if production and os.environ.get("BATON_PUSH_ALLOW_PRIVATE_ENDPOINTS") == "true":
        raise ConfigError("BATON_PUSH_ALLOW_PRIVATE_ENDPOINTS is for tests and development; it is refused in production")

    vapid = _vapid_keys(production)

    config = {
        "VAPID_PRIVATE_KEY": vapid.get("private_key", ""),
        "VAPID_PUBLIC_KEY": vapid.get("public_key", ""),
        "VAPID_SUBJECT": os.environ.get("VAPID_SUBJECT", "mailto:ops@baton.example"),
        # "webpush" delivers through push services; "log" only records (development without keys, tests).
        "PUSH_PROVIDER": os.environ.get("BATON_PUSH_PROVIDER", "webpush"),
        "PUSH_MAX_WORKERS": _int("BATON_PUSH_MAX_WORKERS", 64),
        "PUSH_MAX_ATTEMPTS": _int("BATON_PUSH_MAX_ATTEMPTS", 8),
        "PUSH_ALLOWED_HOSTS": os.environ.get("BATON_PUSH_ALLOWED_HOSTS"),  # unset: known push services in production, any public host otherwise
        "PUSH_ALLOW_PRIVATE_ENDPOINTS": os.environ.get("BATON_PUSH_ALLOW_PRIVATE_ENDPOINTS") == "true",  # tests/dev only; refused in production
        # Channels beyond Web Push (docs/design.md §14), in ladder order, and each vendor's app (secrets: SSM in AWS).
        "CHANNELS": _channels(),
        "PUBLIC_URL": os.environ.get("BATON_PUBLIC_URL", ""),  # the app's address, for links in chat cards and SMS
        # How long the signed "Claim"/"Open" links of a card or SMS work (app/notify/links.py).
        "CARD_LINK_TTL_SECONDS": _int("BATON_CARD_LINK_TTL_SECONDS", 12 * 3600),
        "DINGTALK_APP_KEY": os.environ.get("BATON_DINGTALK_APP_KEY", ""),
        "DINGTALK_APP_SECRET": os.environ.get("BATON_DINGTALK_APP_SECRET", ""),
        "DINGTALK_AGENT_ID": os.environ.get("BATON_DINGTALK_AGENT_ID", ""),
        "DINGTALK_BASE_URL": os.environ.get("BATON_DINGTALK_BASE_URL", "https://oapi.dingtalk.com"),
        "WECOM_CORP_ID": os.environ.get("BATON_WECOM_CORP_ID", ""),
        "WECOM_SECRET": os.environ.get("BATON_WECOM_SECRET", ""),
        "WECOM_AGENT_ID": os.environ.get("BATON_WECOM_AGENT_ID", ""),
        "WECOM_BASE_URL": os.environ.get("BATON_WECOM_BASE_URL", "https://qyapi.weixin.qq.com"),
        "FEISHU_APP_ID": os.environ.get("BATON_FEISHU_APP_ID", ""),
        "FEISHU_APP_SECRET": os.environ.get("BATON_FEISHU_APP_SECRET", ""),
        "FEISHU_BASE_URL": os.environ.get("BATON_FEISHU_BASE_URL", "https://open.feishu.cn"),
        "SMS_PROVIDER": os.environ.get("BATON_SMS_PROVIDER", "sns"),
        "SMS_SENDER_ID": os.environ.get("BATON_SMS_SENDER_ID", ""),
        "SMS_DEFAULT_COUNTRY": os.environ.get("BATON_SMS_DEFAULT_COUNTRY", "+86"),
        # Alibaba Cloud SMS (BATON_SMS_PROVIDER=aliyun): a RAM user's key, an approved sign name and template.
        "ALIYUN_SMS_ACCESS_KEY_ID": os.environ.get("BATON_ALIYUN_SMS_ACCESS_KEY_ID", ""),
        "ALIYUN_SMS_ACCESS_KEY_SECRET": os.environ.get("BATON_ALIYUN_SMS_ACCESS_KEY_SECRET", ""),
        "ALIYUN_SMS_SIGN_NAME": os.environ.get("BATON_ALIYUN_SMS_SIGN_NAME", ""),
        "ALIYUN_SMS_TEMPLATE_CODE": os.environ.get("BATON_ALIYUN_SMS_TEMPLATE_CODE", ""),
        "ALIYUN_SMS_BASE_URL": os.environ.get("BATON_ALIYUN_SMS_BASE_URL", "https://dysmsapi.aliyuncs.com"),
        "ALIYUN_SMS_REGION": os.environ.get("BATON_ALIYUN_SMS_REGION", "cn-hangzhou"),
        "CHANNEL_MAX_ATTEMPTS": _int("BATON_CHANNEL_MAX_ATTEMPTS", 8),
        # The ladder: how long a notification may stay unopened before the next channel, per priority.
        "STEP_UP": parse_step_up(os.environ.get("BATON_STEP_UP", "P1=2m,P2=10m,P3=1h,P4=off")),
        "ENV_NAME": env,
        "PRODUCTION": production,
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        # A pooled PostgreSQL connection idle for longer than this is pinged before use (0: never).
        "DB_PING_IDLE_SECONDS": _int("BATON_DB_PING_IDLE_SECONDS", 30),
        # Database outages: give up connecting after this long; a 503 tells clients to retry after this long;
        # the local worker waits up to this long between passes while the database is away.
        "DB_CONNECT_TIMEOUT_SECONDS": _int("BATON_DB_CONNECT_TIMEOUT_SECONDS", 5),
        "DB_RETRY_AFTER_SECONDS": _int("BATON_DB_RETRY_AFTER_SECONDS", 5),
        "WORKER_MAX_BACKOFF_SECONDS": _int("BATON_WORKER_MAX_BACKOFF_SECONDS", 60),
        # A body larger than this is refused with 413 before any view runs.
        "MAX_CONTENT_LENGTH": _int("BATON_MAX_BODY_BYTES", 12 * 1024 * 1024),
        "MAX_JSON_BYTES": _int("BATON_MAX_JSON_BYTES", 8 * 1024 * 1024),
        # JSON deeper than this many nested arrays/objects is refused with 400 before it is parsed.
        "MAX_JSON_DEPTH": _int("BATON_MAX_JSON_DEPTH", 64),
        # How often an open screen asks `GET /changes` whether anything was told to its reader (seconds).
        "LIVE_POLL_SECONDS": _int("BATON_LIVE_POLL_SECONDS", 3),
        "TOKEN_TTL_SECONDS": _int("BATON_TOKEN_TTL_SECONDS", 12 * 3600),
        "LOGIN_FAILURE_WINDOW_SECONDS": _int("BATON_LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60),
        "LOGIN_FREE_ATTEMPTS": _int("BATON_LOGIN_FREE_ATTEMPTS", 5),
        "LOGIN_MAX_DELAY_SECONDS": _int("BATON_LOGIN_MAX_DELAY_SECONDS", 15 * 60),
        "LOGIN_MAX_FAILURES_PER_LOGIN": _int("BATON_LOGIN_MAX_FAILURES_PER_LOGIN", 100),
        "LOGIN_MAX_FAILURES_PER_ADDRESS": _int("BATON_LOGIN_MAX_FAILURES_PER_ADDRESS", 200),
        "DEVICE_COOKIE_MAX_AGE_SECONDS": _int("BATON_DEVICE_COOKIE_DAYS", 180) * 86400,
        "IDEMPOTENCY_TTL_SECONDS": _int("BATON_IDEMPOTENCY_TTL_SECONDS", 24 * 3600),
        "OCCURRED_AT_MAX_SKEW_SECONDS": _int("BATON_OCCURRED_AT_MAX_SKEW_SECONDS", 7 * 24 * 3600),
        "ATTACHMENT_MAX_BYTES": _int("BATON_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024),
        "ATTACHMENT_STORAGE": os.environ.get("BATON_ATTACHMENT_STORAGE", "local"),
        "ATTACHMENT_DIR": os.environ.get("BATON_ATTACHMENT_DIR", str(INSTANCE_DIR / "uploads")),
        "S3_BUCKET": os.environ.get("BATON_S3_BUCKET", ""),
        "AWS_ENDPOINT_URL": os.environ.get("AWS_ENDPOINT_URL") or None,
        "AWS_REGION": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "ap-east-1",
        # SQS queues that hand work to Lambda jobs (unset locally: the worker polls the database instead).
        "DISPATCH_QUEUE_URL": os.environ.get("BATON_DISPATCH_QUEUE_URL", ""),
        "JOBS_QUEUE_URL": os.environ.get("BATON_JOBS_QUEUE_URL", ""),
        "INVENTORY_QUEUE_URL": os.environ.get("BATON_INVENTORY_QUEUE_URL", ""),
        # EventBridge bus for product.paused / batch.held (unset locally: the logged outbox only).
        "EVENT_BUS_NAME": os.environ.get("BATON_EVENT_BUS", ""),
        "EVENT_SOURCE": os.environ.get("BATON_EVENT_SOURCE", "baton.quality"),
        # Stock shortage: a paused product resumes above threshold × (1 + margin) (hysteresis).
        "SHORTAGE_RESUME_MARGIN": float(os.environ.get("BATON_SHORTAGE_RESUME_MARGIN", "0.2")),
        # Integration event times (inventory `at`, order times) may run at most this far ahead of the server clock.
        "METRICS_FACTS_BATCH_SIZE": _int("BATON_METRICS_FACTS_BATCH_SIZE", 2000),
        "INVENTORY_MAX_FUTURE_SKEW_SECONDS": _int("BATON_INVENTORY_MAX_FUTURE_SKEW_SECONDS", 300),
        # Recall fan-out: parallel lanes (PostgreSQL) and work orders per transaction.
        "RECALL_LANES": _int("BATON_RECALL_LANES", 2),
        "RECALL_BATCH_SIZE": _int("BATON_RECALL_BATCH_SIZE", 5000),
        # Someone off duty this long has the tasks they hold handed back (0: never); see workorders/handback.py.
        "OFF_DUTY_HANDBACK_MINUTES": _int("BATON_OFF_DUTY_HANDBACK_MINUTES", 60),
        # Business day of work-order numbers and daily metrics.
        "BUSINESS_TIMEZONE": os.environ.get("BATON_TIMEZONE", "Asia/Shanghai"),
        "TRUSTED_PROXIES": _int("BATON_TRUSTED_PROXIES", 0),
        # flask-smorest / OpenAPI
        "API_TITLE": "Baton",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "v1/openapi.json",
        "API_SPEC_OPTIONS": {
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                }
            },
            "security": [{"bearer": []}, {"apiKey": []}],
        },
    }
    return config
