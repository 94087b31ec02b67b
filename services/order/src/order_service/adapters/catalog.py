"""The catalog service's internal API, as the order service uses it (docs/internal-api.md "catalog"):
`POST /internal/v1/options/lookup` gives the options that exist, fresh (never cached)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from commerce_kit.clients import ServiceClient
from order_service.adapters.remote import answer_of, parsed
from order_service.domain.placing import CatalogOption

SERVICE = "catalog"


class _Option(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="ignore")
    option_id: int = Field(ge=1)
    product_id: int = Field(ge=1)
    product_name: str
    option_name: str
    price: int = Field(ge=0)
    stock: int = Field(ge=0)


class _Lookup(BaseModel):
    model_config = ConfigDict(extra="ignore")
    options: list[_Option]


class Catalog:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def options(self, option_ids: Sequence[int]) -> dict[int, CatalogOption]:
        """The options among `option_ids` that exist (at most 100 ids, the lookup's limit)."""
        # A lookup only reads: safe to retry, although it is a POST (the ids travel in the body).
        call = self._client.post(
            "/internal/v1/options/lookup", {"optionIds": list(option_ids)}, idempotent=True
        )
        lookup = parsed(SERVICE, _Lookup, await answer_of(SERVICE, call))
        return {
            o.option_id: CatalogOption(
                o.option_id, o.product_id, o.product_name, o.option_name, o.price, o.stock
            )
            for o in lookup.options
        }
