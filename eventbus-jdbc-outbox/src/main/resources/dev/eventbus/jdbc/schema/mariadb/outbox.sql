-- eventbus transactional outbox, MariaDB (also MySQL 8). ${p} is the table prefix (default eventbus_).
-- Times are epoch milliseconds (UTC): read them with FROM_UNIXTIME(x / 1000).
-- key_hash: a stable non-negative hash of msg_key; the relays map it to their partitions (key_hash mod N).
-- status: pending -> published, or pending -> failed (retried with backoff) -> ... -> published | abandoned.
-- A row being sent is still pending: its relay's lease on the partition says so (see the view at the end).

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
  published_at     BIGINT,
  last_error       VARCHAR(2000)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- The relay's claim query reads rows of one status in id order; retention deletes published rows the same way.
CREATE INDEX IF NOT EXISTS ${p}outbox_status ON ${p}outbox (status, id);

-- One row per outbox partition: which relay holds it (lease), and the highest outbox id it has in flight
-- (position; 0 when none).
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

-- What an operator reads: every row with its state. A row is in flight while a relay holds the lease on its
-- partition (key_hash mod the number of lease rows) and has claimed it (id <= the lease's position): the
-- lease expires if that relay dies, and another relay then sends the row again. (No lease rows yet: no relay
-- ever ran, nothing is in flight.)
CREATE OR REPLACE VIEW ${p}outbox_status AS
SELECT o.id, o.stream, o.msg_key, o.event_id, o.event_type, o.created_at, o.attempts, o.next_attempt_at,
       o.last_error, o.published_at,
       CASE WHEN o.status = 'pending' AND l.owner IS NOT NULL AND o.id <= l.position THEN 'in_flight'
            ELSE o.status END AS status,
       CASE WHEN o.status = 'pending' AND l.owner IS NOT NULL AND o.id <= l.position THEN l.owner END
           AS lease_owner,
       CASE WHEN o.status = 'pending' AND l.owner IS NOT NULL AND o.id <= l.position THEN l.lease_until END
           AS lease_until
FROM ${p}outbox o
LEFT JOIN ${p}outbox_lease l ON l.group_name = 'relays' AND l.stream = 'outbox'
  AND l.partition_no = MOD(o.key_hash, NULLIF((SELECT COUNT(*) FROM ${p}outbox_lease c
                                               WHERE c.group_name = 'relays' AND c.stream = 'outbox'), 0));
