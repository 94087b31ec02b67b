"""The public API of the catalog (API.md "Products")."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import Field, StrictInt, StringConstraints

from catalog_service.bootstrap import Deps
from catalog_service.domain.product import (
    MAX_DESCRIPTION,
    MAX_NAME,
    MAX_OPTIONS,
    MAX_PRICE,
    MAX_STOCK,
    NewOption,
    NewProduct,
)
from catalog_service.service_layer.products import ListedProduct, Option, ProductDetail
from commerce_kit.api import (
    ApiRequest,
    ApiResponse,
    Cursor,
    MultiLineText,
    PageSize,
    Text,
    path_id,
    problems,
)
from commerce_kit.paging import Page
from commerce_kit.web import Admin, Caller

router = APIRouter(prefix="/api/v1", tags=["products"])

ProductId = Annotated[int, path_id("productId")]
OptionId = Annotated[int, path_id("optionId")]

Name = Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME)]
Description = Annotated[MultiLineText, StringConstraints(max_length=MAX_DESCRIPTION)]
Price = Annotated[StrictInt, Field(ge=0, le=MAX_PRICE, description=f"KRW, 0 to {MAX_PRICE}")]
Stock = Annotated[StrictInt, Field(ge=0, le=MAX_STOCK, description=f"0 to {MAX_STOCK}")]


class NewOptionIn(ApiRequest):
    name: Name
    price: Price
    stock: Stock


class NewProductIn(ApiRequest):
    name: Name
    description: Description = ""
    options: list[NewOptionIn] = Field(min_length=1, max_length=MAX_OPTIONS)


class StockIn(ApiRequest):
    stock: Stock


class OptionOut(ApiResponse):
    id: int
    name: str
    price: int
    stock: int


class ProductOut(ApiResponse):
    id: int
    name: str
    description: str
    sold_out: bool = Field(description="Every option is at stock 0 (the product is still shown)")
    options: list[OptionOut]


class ListedProductOut(ApiResponse):
    id: int
    name: str
    price: int = Field(description="The lowest price among the product's options in stock")


def _option(option: Option) -> OptionOut:
    return OptionOut(id=option.id, name=option.name, price=option.price, stock=option.stock)


def _product(detail: ProductDetail) -> ProductOut:
    return ProductOut(
        id=detail.id,
        name=detail.name,
        description=detail.description,
        sold_out=detail.sold_out,
        options=[_option(o) for o in detail.options],
    )


def _listed(product: ListedProduct) -> ListedProductOut:
    return ListedProductOut(id=product.id, name=product.name, price=product.price)


@router.post("/admin/products", status_code=201, response_model=ProductOut, responses=problems(400, 401, 403))
async def create_product(body: NewProductIn, caller: Admin, deps: Deps) -> ProductOut:
    """Create a product with its options (1 to 50)."""
    new = NewProduct(
        body.name, body.description, tuple(NewOption(o.name, o.price, o.stock) for o in body.options)
    )
    return _product(await deps.products.create(new))


@router.put(
    "/admin/products/{productId}/options/{optionId}/stock",
    response_model=OptionOut,
    responses=problems(400, 401, 403, 404),
)
async def set_stock(
    product_id: ProductId, option_id: OptionId, body: StockIn, caller: Admin, deps: Deps
) -> OptionOut:
    """Set an option's stock (404 OPTION_NOT_FOUND for an option of another product)."""
    return _option(await deps.products.set_stock(product_id, option_id, body.stock))


# The shop's browsing, what every visitor asks for. A page the use case hands out is immutable and
# hashable, and its JSON is a pure function of it: each distinct page is encoded once, by its response
# model, and a request for it after that costs a hash and a lookup.


@lru_cache(maxsize=1024)
def _page_body(items: tuple[ListedProduct, ...], next_cursor: str | None) -> bytes:
    page = Page[ListedProductOut](items=[_listed(p) for p in items], nextCursor=next_cursor)
    return page.model_dump_json(by_alias=True).encode()


@lru_cache(maxsize=1024)
def _detail_body(detail: ProductDetail) -> bytes:
    return _product(detail).model_dump_json(by_alias=True).encode()


@router.get("/products", response_model=Page[ListedProductOut], responses=problems(400, 401))
async def list_products(caller: Caller, deps: Deps, size: PageSize = 20, cursor: Cursor = None) -> Response:
    """Products with at least one option in stock, newest first, each with its lowest in-stock
    price. Served from a cache at most CATALOG_CACHE_SECONDS old."""
    items, next_cursor = await deps.products.listed(cursor, size)
    return Response(_page_body(items, next_cursor), media_type="application/json")


@router.get("/products/{productId}", response_model=ProductOut, responses=problems(400, 401, 404))
async def get_product(product_id: ProductId, caller: Caller, deps: Deps) -> Response:
    """A product and all its options; `soldOut` when every option is at 0. Served from a cache at
    most CATALOG_CACHE_SECONDS old."""
    return Response(_detail_body(await deps.products.detail(product_id)), media_type="application/json")
