"""The public API of the catalog (API.md "Products")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from pydantic import Field, StrictInt, StringConstraints
from starlette.types import Scope

from catalog_service.domain.product import (
    MAX_DESCRIPTION,
    MAX_NAME,
    MAX_OPTIONS,
    MAX_PRICE,
    MAX_STOCK,
    NewOption,
    NewProduct,
)
from catalog_service.service_layer.products import Option, ProductDetail, Products
from commerce_kit.api import MAX_BIGINT, ApiRequest, ApiResponse, Cursor, PageSize, path_id, problems
from commerce_kit.paging import Page
from commerce_kit.web import Admin, Caller, FastJSONResponse, install_plain_endpoint, plain_query

router = APIRouter(prefix="/api/v1", tags=["products"])

ProductId = Annotated[int, path_id("productId")]
OptionId = Annotated[int, path_id("optionId")]

Name = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=MAX_NAME)
]
Description = Annotated[str, StringConstraints(strict=True, max_length=MAX_DESCRIPTION)]
Price = Annotated[StrictInt, Field(ge=0, le=MAX_PRICE, description=f"KRW, 0 to {MAX_PRICE}")]
Stock = Annotated[StrictInt, Field(ge=0, le=MAX_STOCK, description=f"0 to {MAX_STOCK}")]


def products(request: Request) -> Products:
    return request.app.state.products


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


@router.post("/admin/products", status_code=201, response_model=ProductOut, responses=problems(400, 401, 403))
async def create_product(body: NewProductIn, caller: Admin, request: Request) -> ProductOut:
    """Create a product with its options (1 to 50)."""
    new = NewProduct(
        body.name, body.description, tuple(NewOption(o.name, o.price, o.stock) for o in body.options)
    )
    return _product(await products(request).create(new))


@router.put(
    "/admin/products/{productId}/options/{optionId}/stock",
    response_model=OptionOut,
    responses=problems(400, 401, 403, 404),
)
async def set_stock(
    product_id: ProductId, option_id: OptionId, body: StockIn, caller: Admin, request: Request
) -> OptionOut:
    """Set an option's stock (404 OPTION_NOT_FOUND for an option of another product)."""
    return _option(await products(request).set_stock(product_id, option_id, body.stock))


# The two read routes of a sale day answer JSON built directly from the cached, already checked
# objects (the response models document them): validating the answer again through pydantic cost
# more than the rest of the request (docs/performance.md).


@router.get("/products", response_model=Page[ListedProductOut], responses=problems(400, 401))
async def list_products(
    caller: Caller, request: Request, size: PageSize = 20, cursor: Cursor = None
) -> Response:
    """Products with at least one option in stock, newest first, each with its lowest in-stock
    price. Served from a cache at most CATALOG_CACHE_SECONDS old."""
    return await _listed(request, size, cursor)


@router.get("/products/{productId}", response_model=ProductOut, responses=problems(400, 401, 404))
async def get_product(product_id: ProductId, caller: Caller, request: Request) -> Response:
    """A product and all its options; `soldOut` when every option is at 0. Served from a cache at
    most CATALOG_CACHE_SECONDS old."""
    return await _detail(request, product_id)


async def _listed(request: Request, size: int, cursor: str | None = None) -> Response:
    items, next_cursor = await products(request).listed(cursor, size)
    return FastJSONResponse(
        {"items": [{"id": p.id, "name": p.name, "price": p.price} for p in items], "nextCursor": next_cursor}
    )


async def _detail(request: Request, product_id: int) -> Response:
    d = await products(request).detail(product_id)
    return FastJSONResponse(
        {
            "id": d.id,
            "name": d.name,
            "description": d.description,
            "soldOut": d.sold_out,
            "options": [{"id": o.id, "name": o.name, "price": o.price, "stock": o.stock} for o in d.options],
        }
    )


def install_fast_routes(app: FastAPI) -> None:
    """The shop's browsing (the first page of the list, a product's page) skips FastAPI's machinery
    for well-formed requests (`PlainEndpoint`): they are what every visitor asks for. A later page
    (a cursor) and anything unusual go to FastAPI's routes."""
    routes = {r.path: r for r in router.routes if isinstance(r, APIRoute)}

    def first_page(scope: Scope) -> dict[str, int] | None:
        query = plain_query(scope, {"size": (1, 100)})
        return None if query is None else {"size": query.get("size", 20)}

    def product(scope: Scope) -> dict[str, int] | None:
        product_id = scope["path_params"]["productId"]  # digits, by the path's convertor
        plain = 1 <= product_id <= MAX_BIGINT and not scope.get("query_string")
        return {"product_id": product_id} if plain else None

    install_plain_endpoint(app, routes["/api/v1/products"], first_page, _listed)
    install_plain_endpoint(
        app, routes["/api/v1/products/{productId}"], product, _detail, path="/api/v1/products/{productId:int}"
    )
