"""Settings every service reads, from the environment (API.md "Configuration").

Each service subclasses `ServiceSettings`, sets `service` and adds its own fields with its own prefix
(`USER_MAX_BALANCE`, ...). The shared names keep the unprefixed names of API.md, and
`<SERVICE>_DATABASE_URL` gives one service its own server.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The documented local default (>= 32 bytes). Refused outside local and test runs.
LOCAL_JWT_SECRET = "local-dev-secret-change-me-0123456789abcdef"

#: Offsets from SERVICE_PORT_BASE, and the PostgreSQL schema each service owns.
SERVICES: dict[str, tuple[int, str]] = {
    "user": (1, "users"),
    "catalog": (2, "catalog"),
    "coupon": (3, "coupons"),
    "order": (4, "orders"),
    "payment": (5, "payments"),
    "ranking": (6, "rankings"),
}


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service: ClassVar[str] = ""

    app_env: Literal["local", "test", "production"] = Field("local", alias="APP_ENV")
    database_url: str = Field("postgresql://postgres@127.0.0.1:5432/commerce", alias="DATABASE_URL")
    redis_url: str = Field("redis://127.0.0.1:6379/0", alias="REDIS_URL")
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", alias="KAFKA_BOOTSTRAP_SERVERS")
    topic_prefix: str = Field("", alias="TOPIC_PREFIX", description="Prepended to every topic name.")
    jwt_secret: str = Field(LOCAL_JWT_SECRET, alias="JWT_SECRET", min_length=32)
    jwt_issuer: str | None = Field(None, alias="JWT_ISSUER")
    service_port_base: int = Field(8100, alias="SERVICE_PORT_BASE")
    service_host: str = Field("127.0.0.1", alias="SERVICE_HOST")
    db_pool_min: int = Field(2, alias="DB_POOL_MIN")
    db_pool_max: int = Field(20, alias="DB_POOL_MAX")
    http_timeout_seconds: float = Field(3.0, alias="INTERNAL_HTTP_TIMEOUT_SECONDS")
    otel_endpoint: str | None = Field(None, alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    log_level: str = Field("INFO", alias="LOG_LEVEL")

    @model_validator(mode="before")
    @classmethod
    def _service_database(cls, data: Any) -> Any:
        # `<SERVICE>_DATABASE_URL` wins over DATABASE_URL for this service only.
        if cls.service and isinstance(data, dict):
            own = os.environ.get(f"{cls.service.upper()}_DATABASE_URL")
            if own and "database_url" not in data:
                data = {**data, "DATABASE_URL": own}
        return data

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> ServiceSettings:
        if self.app_env == "production" and self.jwt_secret == LOCAL_JWT_SECRET:
            raise ValueError("JWT_SECRET must be set to a real secret when APP_ENV=production")
        return self

    @property
    def db_schema(self) -> str:
        return SERVICES[self.service][1]

    @property
    def port(self) -> int:
        return self.service_port_base + SERVICES[self.service][0]

    def service_url(self, name: str) -> str:
        """Base URL of another service: `<NAME>_SERVICE_URL`, else the local port layout."""
        explicit = os.environ.get(f"{name.upper()}_SERVICE_URL")
        if explicit:
            return explicit.rstrip("/")
        return f"http://{self.service_host}:{self.service_port_base + SERVICES[name][0]}"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"
