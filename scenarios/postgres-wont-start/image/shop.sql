CREATE ROLE shop LOGIN PASSWORD 'Sh0p-2024-orders';
CREATE DATABASE shop OWNER shop;
\connect shop
SET ROLE shop;
CREATE TABLE orders (
    id         integer PRIMARY KEY,
    customer   text NOT NULL,
    amount     numeric(10,2) NOT NULL,
    placed_at  timestamptz NOT NULL
);
INSERT INTO orders
SELECT i,
       'cust-' || lpad((i * 7919 % 613)::text, 4, '0'),
       (i * 3571 % 100000) / 100.0,
       timestamptz '2024-03-01 08:00:00+00' + i * interval '17 minutes'
FROM generate_series(1, 2400) AS i;
