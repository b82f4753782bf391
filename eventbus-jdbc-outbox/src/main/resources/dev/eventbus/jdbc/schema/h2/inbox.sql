-- eventbus inbox (idempotent consumers), H2 2.x. ${p} is the table prefix (default eventbus_).
-- consumer = "<group>/<subscriber id>" (shortened with a hash when longer than 200 characters).
CREATE TABLE IF NOT EXISTS ${p}inbox (
  consumer    VARCHAR(200) NOT NULL,
  event_id    VARCHAR(100) NOT NULL,
  handled_at  BIGINT       NOT NULL,
  PRIMARY KEY (consumer, event_id)
);
CREATE INDEX IF NOT EXISTS ${p}inbox_handled ON ${p}inbox (handled_at);
