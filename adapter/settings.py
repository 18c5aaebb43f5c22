"""Settings, read once from the SSO_ADAPTER_* environment into one typed object."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_KEY_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SSO_ADAPTER_", extra="ignore")

    database_url: str = "sqlite:///./sso-adapter.db"
    public_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr | None = None
    # Earlier master keys, comma-separated: they still open what they sealed until
    # `sso-adapter rotate-secrets` has re-sealed everything with the current key.
    old_secret_keys: SecretStr | None = None
    admin_token: SecretStr | None = None
    allow_insecure_loopback: bool = False

    # Leeway for exp/iat/NotBefore checks: small, because every second widens replay windows.
    clock_skew_seconds: int = Field(default=60, ge=0, le=300)
    # Timeout of every outbound HTTP call (IdP and BigCommerce), in seconds.
    http_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Longest wait for a BigCommerce 429 to reset before the login fails with 502.
    rate_limit_max_wait_seconds: float = Field(default=15.0, ge=0, le=120)
    login_state_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    # How long a replica keeps a connection it loaded for logins. Changes through this
    # replica's admin API apply at once; other replicas see them within this time. 0: never.
    config_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # Who reads a SAML response at the ACS: the adapter's single-parse reader, or pysaml2's
    # response parser (the earlier path, kept as a fallback). Both are held to the same rules.
    saml_response_reader: Literal["single_parse", "pysaml2"] = "single_parse"
    # Addresses of the reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed
    # (comma-separated IPs or CIDRs, as uvicorn's forwarded_allow_ips). Empty: none.
    trusted_proxies: str = ""
    log_level: str = "INFO"
    log_json: bool = True
    # The BigCommerce app this deployment is (a draft app in the merchant's developer portal):
    # without a client id the install endpoints answer 404.
    bc_app_client_id: str | None = None
    bc_app_client_secret: SecretStr | None = None
    bc_login_url: str = "https://login.bigcommerce.com"
    bc_api_url: str = "https://api.bigcommerce.com"

    @field_validator("public_url")
    @classmethod
    def _public_url_is_absolute(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.rstrip("/")

    @property
    def public_url_is_https(self) -> bool:
        return self.public_url.startswith("https://")

    def require_secret_key(self) -> str:
        if self.secret_key is None or not self.secret_key.get_secret_value():
            raise MissingSecretKey(
                "SSO_ADAPTER_SECRET_KEY is not set: the service refuses to start"
            )
        key = self.secret_key.get_secret_value()
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise MissingSecretKey(
                f"SSO_ADAPTER_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters "
                "(for example: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return key

    def old_keys(self) -> list[str]:
        if self.old_secret_keys is None:
            return []
        return [k.strip() for k in self.old_secret_keys.get_secret_value().split(",") if k.strip()]


class MissingSecretKey(Exception):
    """The master key is required for everything but the demo."""
