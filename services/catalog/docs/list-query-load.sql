-- Loads 100,000 products and about 1,000,000 options into an EMPTY catalog schema, to measure the
-- product list (docs/list-query.md; tests/integration/test_list_plan.py runs this very file):
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -c 'SET search_path = <schema>' -f list-query-load.sql
-- Products have 1 to 19 options (10 on average); about a third of the options are at stock 0, and
-- every tenth product is sold out (all its options at 0), so 88,421 products are listed.
-- Product ids are given (1..100000) so that each product's in-stock count can be computed with it,
-- from the same formula as its options' stocks.
INSERT INTO products (id, name, description, in_stock_options) OVERRIDING SYSTEM VALUE
SELECT g,
       '상품 ' || g,
       'generated',
       (SELECT count(*) FROM generate_series(1, 1 + g % 19) k WHERE g % 10 <> 0 AND (g + k) % 3 <> 0)
FROM generate_series(1, 100000) g;
SELECT setval(pg_get_serial_sequence('products', 'id'), 100000);

INSERT INTO options (product_id, name, price, stock)
SELECT p.id,
       '옵션 ' || k,
       1000 + ((p.id * 7919 + k * 104729) % 200) * 500,
       CASE WHEN p.id % 10 = 0 OR (p.id + k) % 3 = 0 THEN 0 ELSE 1 + (p.id * k) % 500 END
FROM products p, generate_series(1, 1 + p.id % 19) k;

ANALYZE products;
ANALYZE options;
