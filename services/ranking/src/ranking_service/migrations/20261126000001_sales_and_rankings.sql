-- migrate:up

-- Every sale the ranking has seen, once per payment (the primary key is the consumers' idempotency):
-- from payment-completed, from a refund that arrived before its sale, or backfilled from the order
-- service. Lines are kept as two parallel arrays (product, quantity summed per product): one row per
-- sale keeps the event path to one insert and lets the rebuild read a day with one range scan of
-- `sales_by_paid_at`, without a join.
CREATE TABLE sales (
    payment_id   bigint PRIMARY KEY,
    order_id     bigint NOT NULL,
    user_id      bigint NOT NULL,
    paid_at      timestamptz NOT NULL,
    refunded_at  timestamptz,
    product_ids  bigint[] NOT NULL,
    quantities   int[] NOT NULL,
    source       text NOT NULL CHECK (source IN ('PAYMENT', 'REFUND', 'BACKFILL')),
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (cardinality(product_ids) >= 1 AND cardinality(product_ids) = cardinality(quantities))
);
CREATE INDEX sales_by_paid_at ON sales (paid_at);

-- Units sold per product per calendar day (APP_ZONE), net of refunds: the small table the read path
-- sums over its window. Kept up to date by the consumers in the sale's own transaction, recomputed
-- from `sales` by the rebuild. Every write only changes `quantity` (not indexed), so a fillfactor
-- below 100 lets those updates stay on their page (HOT) instead of growing the index.
CREATE TABLE product_day_sales (
    day         date NOT NULL,
    product_id  bigint NOT NULL,
    quantity    bigint NOT NULL,
    PRIMARY KEY (day, product_id)
) WITH (fillfactor = 70);

-- The latest name the events gave each product (by the sale's paid_at, so a late or redelivered
-- old event never renames a product back).
CREATE TABLE product_names (
    product_id  bigint PRIMARY KEY,
    name        text NOT NULL,
    named_at    timestamptz NOT NULL
);

-- One row per rebuild (admin, daily at 00:00 APP_ZONE, or at start to backfill), whichever
-- instance ran it. The unique index makes the daily job run once per day even when the instances'
-- clocks disagree by a little and one of them comes after the other has finished.
CREATE TABLE rebuild_runs (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trigger           text NOT NULL CHECK (trigger IN ('ADMIN', 'SCHEDULED', 'STARTUP', 'MANUAL')),
    scheduled_for     date,
    status            text NOT NULL CHECK (status IN ('RUNNING', 'DONE', 'FAILED', 'INTERRUPTED')),
    first_day         date NOT NULL,
    last_day          date NOT NULL,
    backfilled_sales  bigint NOT NULL DEFAULT 0,
    error             text,
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz
);
CREATE UNIQUE INDEX rebuild_runs_once_per_day ON rebuild_runs (scheduled_for) WHERE scheduled_for IS NOT NULL;

-- The backfill from the order service's paid orders: PENDING in a schema that starts empty (this
-- migration), DONE once every page is in. The cursor of the next page is saved with each page's
-- sales, so an interrupted backfill resumes where it stopped.
CREATE TABLE backfill (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    status      text NOT NULL CHECK (status IN ('PENDING', 'DONE')),
    cursor      text,
    pages       bigint NOT NULL DEFAULT 0,
    sales       bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO backfill (status) VALUES ('PENDING');

-- migrate:down
DROP TABLE backfill;
DROP TABLE rebuild_runs;
DROP TABLE product_names;
DROP TABLE product_day_sales;
DROP TABLE sales;
