"""Demo data for `make run`: a few users with some money, loaded only into an empty schema."""

from __future__ import annotations

from commerce_kit import db
from user_service.domain.wallet import WalletLimits
from user_service.service_layer.wallets import Wallets
from user_service.settings import UserSettings

DEMO_USERS = [("Admin", 0), ("Alice", 500_000), ("Bob", 300_000), ("Carol", 50_000)]


async def load(settings: UserSettings) -> None:
    pool = await db.create_pool(
        settings.database_url, settings.db_schema, application_name="user-demo", min_size=1
    )
    try:
        if await pool.fetchval("SELECT EXISTS (SELECT FROM users)"):
            print("user: data present, demo data skipped")
            return
        wallets = Wallets(pool, WalletLimits(settings.max_single_charge, settings.max_balance))
        for name, balance in DEMO_USERS:
            user = await wallets.register(name)
            if balance:
                await wallets.charge(user.id, balance, key=None)
        print(f"user: {len(DEMO_USERS)} demo users loaded (Admin, Alice, Bob, Carol)")
    finally:
        await pool.close()
