from __future__ import annotations

from pydantic import Field

from commerce_kit.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    service = "catalog"

    #: The bound on staleness of the public pages (list and detail): a page this instance serves
    #: reflects the database as it was at most this many seconds ago (writes through this instance
    #: are seen at once). 0 turns the cache off. See service_layer/cache.py.
    cache_seconds: float = Field(1.0, alias="CATALOG_CACHE_SECONDS", ge=0, le=60)
    cache_entries: int = Field(10_000, alias="CATALOG_CACHE_ENTRIES", ge=1)
