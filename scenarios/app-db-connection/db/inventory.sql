CREATE ROLE inventory LOGIN PASSWORD 'inv-3xT9-ledger';
CREATE DATABASE inventory OWNER inventory;
\connect inventory
SET ROLE inventory;
CREATE TABLE items (
    id    integer PRIMARY KEY,
    sku   text NOT NULL UNIQUE,
    name  text NOT NULL,
    qty   integer NOT NULL
);
INSERT INTO items
SELECT i,
       'SKU-' || lpad(i::text, 4, '0') || '-' || upper(substr(md5('sku' || i), 1, 4)),
       (ARRAY['bolt', 'nut', 'washer', 'bracket', 'hinge', 'spring', 'gasket', 'valve'])[1 + i % 8]
           || ' ' || (4 + i * 37 % 60) || 'mm',
       i * 7919 % 500
FROM generate_series(1, 750) AS i;
