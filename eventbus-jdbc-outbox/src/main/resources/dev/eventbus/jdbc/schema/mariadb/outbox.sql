-- eventbus transactional outbox, MariaDB (also MySQL 8). ${p} is the table prefix (default eventbus_).
-- Times are epoch milliseconds (UTC): read them with FROM_UNIXTIME(x / 1000).
-- key_hash: a stable non-negative hash of msg_key; the relays map it to their partitions (key_hash mod N).
-- status: pending -> in_flight -> published | failed (retried with backoff) -> ... -> abandoned.

CREATE TABLE IF NOT EXISTS ${p}outbox (
  id               BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  key_hash         INTEGER      NOT NULL,
  status           VARCHAR(10)  NOT NULL,
  stream           VARCHAR(200) NOT NULL,
  msg_key          VARCHAR(255),
  event_id         VARCHAR(100),
  event_type       VARCHAR(255),
  headers          MEDIUMTEXT   NOT NULL,
  body             LONGBLOB     NOT NULL,
  deliver_at       BIGINT,
  priority         SMALLINT     NOT NULL DEFAULT 0,
  created_at       BIGINT       NOT NULL,
  attempts         INTEGER      NOT NULL DEFAULT 0,
  next_attempt_at  BIGINT,
  lease_owner      VARCHAR(100),
  lease_until      BIGINT,
  published_at     BIGINT,
  last_error       VARCHAR(2000)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- The relay's claim query reads rows of one status in id order; retention deletes published rows the same way.
CREATE INDEX IF NOT EXISTS ${p}outbox_status ON ${p}outbox (status, id);

-- One row per outbox partition: which relay holds it (lease). position is unused for the outbox.
CREATE TABLE IF NOT EXISTS ${p}outbox_lease (
  group_name    VARCHAR(200) NOT NULL,
  stream        VARCHAR(200) NOT NULL,
  partition_no  INTEGER      NOT NULL,
  position      BIGINT       NOT NULL,
  epoch         INTEGER      NOT NULL DEFAULT 0,
  owner         VARCHAR(100),
  lease_until   BIGINT       NOT NULL DEFAULT 0,
  updated_at    BIGINT       NOT NULL,
  PRIMARY KEY (group_name, stream, partition_no)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Live relays (heartbeats), so each takes a fair share of the partitions.
CREATE TABLE IF NOT EXISTS ${p}outbox_relay (
  group_name  VARCHAR(200) NOT NULL,
  stream      VARCHAR(200) NOT NULL,
  member_id   VARCHAR(100) NOT NULL,
  expires_at  BIGINT       NOT NULL,
  PRIMARY KEY (group_name, stream, member_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
