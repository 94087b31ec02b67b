"""Demo data for `make run`: a small Korean shop, loaded only into an empty schema. A few options
are at stock 0 and one product is sold out entirely (shown with soldOut, not listed)."""

from __future__ import annotations

from catalog_service.domain.product import NewOption, NewProduct
from catalog_service.service_layer.cache import ReadCache
from catalog_service.service_layer.products import Products
from catalog_service.settings import CatalogSettings
from commerce_kit import db

DEMO_PRODUCTS: list[tuple[str, str, list[tuple[str, int, int]]]] = [
    (
        "제주 감귤 5kg",
        "새콤달콤한 제주 노지 감귤, 산지 직송.",
        [("로얄과 5kg", 32_900, 120), ("중소과 5kg", 24_900, 200), ("가정용 못난이 5kg", 17_900, 0)],
    ),
    (
        "국내산 한우 1++ 등심 500g",
        "1++ 등급 한우 등심, 냉장 배송.",
        [("500g", 89_000, 30), ("1kg 선물세트", 169_000, 8)],
    ),
    (
        "무선 블루투스 이어폰 에어핏 프로",
        "노이즈 캔슬링, 최대 30시간 재생.",
        [("화이트", 129_000, 50), ("블랙", 129_000, 45), ("네이비", 135_000, 0), ("핑크", 135_000, 12)],
    ),
    (
        "오버핏 코튼 맨투맨",
        "도톰한 기모 안감, 남녀공용.",
        [("M / 멜란지 그레이", 39_000, 40), ("L / 멜란지 그레이", 39_000, 35), ("XL / 블랙", 41_000, 0)],
    ),
    (
        "유기농 콜드브루 원액 1L",
        "에티오피아 예가체프 원두 100%.",
        [("1병", 19_800, 80), ("3병 묶음", 54_000, 25)],
    ),
    (
        "스테인리스 전기포트 1.7L",
        "304 스테인리스, 자동 전원 차단.",
        [("실버", 45_000, 60), ("매트 블랙", 48_000, 15), ("크림", 48_000, 0)],
    ),
    (
        "프리미엄 구스다운 이불",
        "헝가리 구스다운 90%, 사계절용.",
        [("싱글", 259_000, 5), ("퀸", 329_000, 3), ("킹", 389_000, 2)],
    ),
    (
        "한정판 캠핑 머그컵 세트",
        "한정 수량으로 제작된 법랑 머그컵 4종 세트.",
        [("올리브 4P", 36_000, 0), ("샌드 4P", 36_000, 0)],
    ),
]


async def load(settings: CatalogSettings) -> None:
    pool = await db.create_pool(
        settings.database_url, settings.db_schema, application_name="catalog-demo", min_size=1
    )
    try:
        if await pool.fetchval("SELECT EXISTS (SELECT FROM products)"):
            print("catalog: data present, demo data skipped")
            return
        products = Products(pool, ReadCache(0))
        for name, description, options in DEMO_PRODUCTS:
            await products.create(NewProduct(name, description, tuple(NewOption(*o) for o in options)))
        print(f"catalog: {len(DEMO_PRODUCTS)} demo products loaded (one sold out)")
    finally:
        await pool.close()
