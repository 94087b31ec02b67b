"""The catalog service's schema: the kit's tables it uses, then its own migrations, the SQL files
beside this one. `python -m catalog_service migrate` applies both with `commerce_kit.db.migrate`."""

from pathlib import Path

from commerce_kit.db import KitTables, Migrations

MIGRATIONS = Migrations(Path(__file__).parent, kit=(KitTables.OUTBOX,))
