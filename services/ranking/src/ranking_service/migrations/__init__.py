"""The ranking service's schema: its own migrations, the SQL files beside this one (it needs none of
the kit's tables). `python -m ranking_service migrate` applies them with `commerce_kit.db.migrate`."""

from pathlib import Path

from commerce_kit.db import Migrations

MIGRATIONS = Migrations(Path(__file__).parent, kit=())
