-- migrate:up
-- The outbox tables are the kit's: they come from its own migrations (commerce_kit/migrations/outbox,
-- `KitTables.OUTBOX` in this package's MIGRATIONS), applied before this schema's. This migration
-- keeps its version so that the history of every database stays the same; it creates nothing. An
-- applied migration is never run again, so its text matters only to a new database, where the kit
-- has made the tables already; a database that applied it when it created the tables keeps them,
-- and the kit's first outbox migration leaves them (and their rows) as they are.

-- migrate:down
