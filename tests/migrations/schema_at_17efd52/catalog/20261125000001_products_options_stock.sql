-- migrate:up
-- Products and their options (SPEC.md section 2). `in_stock_options` counts the options with
-- stock > 0; it is kept in the same transaction as every stock change that crosses zero, so the
-- listing (only products with an option in stock) reads a small partial index instead of
-- aggregating a million options. See docs/list-query.md.
CREATE TABLE products (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description       text NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    in_stock_options  int NOT NULL DEFAULT 0 CHECK (in_stock_options >= 0),
    created_at        timestamptz NOT NULL DEFAULT now()
);
-- The listing, newest first (scanned backward): only listed products are in it, and a product
-- enters or leaves it only when its in-stock count crosses zero. Ascending on purpose: new products
-- have the highest ids, and a btree filled at its right end stays ~90% full, while an (id DESC)
-- index filled at its left end splits pages in half (1.8x its size, measured in docs/list-query.md).
CREATE INDEX products_listed ON products (id) WHERE in_stock_options > 0;

-- Stock changes all the time on a sale day: it is in no index (nor in an index predicate), and the
-- pages keep room, so a change of stock is a HOT update of this row alone.
CREATE TABLE options (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id  bigint NOT NULL REFERENCES products (id),
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    price       bigint NOT NULL CHECK (price >= 0),
    stock       bigint NOT NULL CHECK (stock >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 85);
-- A product's options, cheapest first: the listing's lowest in-stock price stops at the first
-- in-stock entry instead of reading every option of the product.
CREATE INDEX options_by_product_price ON options (product_id, price);

-- The payment saga's "take the stock" step, one row per payment id: the idempotency record of the
-- take and of its reversal (see domain.stock.TakeStatus). A give-back that came first leaves a
-- VOIDED row with no lines, so a late take does nothing.
CREATE TABLE stock_takes (
    payment_id        bigint PRIMARY KEY,
    status            text NOT NULL CHECK (status IN ('TAKEN', 'REFUSED', 'GIVEN_BACK', 'VOIDED')),
    short_option_ids  bigint[] NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- What the take asked for (and, when TAKEN, took): `stock_after` is the option's stock once taken
-- (when REFUSED, the stock that was found), `returned_after` its stock once given back.
CREATE TABLE stock_take_lines (
    payment_id      bigint NOT NULL REFERENCES stock_takes (payment_id),
    option_id       bigint NOT NULL,
    product_id      bigint NOT NULL,
    quantity        bigint NOT NULL CHECK (quantity > 0),
    stock_after     bigint NOT NULL CHECK (stock_after >= 0),
    returned_after  bigint,
    PRIMARY KEY (payment_id, option_id)
);

-- migrate:down
DROP TABLE stock_take_lines;
DROP TABLE stock_takes;
DROP TABLE options;
DROP TABLE products;
