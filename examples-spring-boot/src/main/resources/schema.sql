CREATE TABLE IF NOT EXISTS orders (
    id          VARCHAR(64) PRIMARY KEY,
    customer    VARCHAR(100) NOT NULL,
    total_cents BIGINT NOT NULL
);
