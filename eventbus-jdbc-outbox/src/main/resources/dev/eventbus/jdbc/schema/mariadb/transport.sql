-- eventbus JDBC transport, MariaDB (also MySQL 8). ${p} is the table prefix (default eventbus_).
-- Times are epoch milliseconds (UTC): read them with FROM_UNIXTIME(x / 1000).

-- One row per stream: the next sequence number (locked by appenders, so sequence order = commit order)
-- and the stream's partition count (fixed when the stream is first used).
CREATE TABLE IF NOT EXISTS ${p}stream (
  stream      VARCHAR(200) NOT NULL PRIMARY KEY,
  next_seq    BIGINT       NOT NULL,
  partitions  INTEGER      NOT NULL,
  created_at  BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The append-only log: every event of every stream, gapless sequence per stream.
CREATE TABLE IF NOT EXISTS ${p}log (
  stream        VARCHAR(200) NOT NULL,
  seq           BIGINT       NOT NULL,
  partition_no  INTEGER      NOT NULL,
  msg_key       VARCHAR(255),
  event_id      VARCHAR(100),
  event_type    VARCHAR(255),
  headers       MEDIUMTEXT   NOT NULL,
  body          LONGBLOB     NOT NULL,
  deliver_at    BIGINT,
  priority      SMALLINT     NOT NULL DEFAULT 0,
  created_at    BIGINT       NOT NULL,
  PRIMARY KEY (stream, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per (group, stream, partition): how far the group has read, and which instance holds it (lease).
CREATE TABLE IF NOT EXISTS ${p}cursor (
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

-- Live instances of a group (heartbeats), so each takes a fair share of the partitions.
CREATE TABLE IF NOT EXISTS ${p}member (
  group_name  VARCHAR(200) NOT NULL,
  stream      VARCHAR(200) NOT NULL,
  member_id   VARCHAR(100) NOT NULL,
  expires_at  BIGINT       NOT NULL,
  PRIMARY KEY (group_name, stream, member_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Messages waiting for a delayed (re)delivery to one group: retries, delayed sends, replayed dead letters.
CREATE TABLE IF NOT EXISTS ${p}retry (
  id            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  group_name    VARCHAR(200) NOT NULL,
  stream        VARCHAR(200) NOT NULL,
  partition_no  INTEGER      NOT NULL,
  msg_key       VARCHAR(255),
  headers       MEDIUMTEXT   NOT NULL,
  body          LONGBLOB     NOT NULL,
  priority      SMALLINT     NOT NULL DEFAULT 0,
  attempt       INTEGER      NOT NULL,
  visible_at    BIGINT       NOT NULL,
  created_at    BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS ${p}retry_due ON ${p}retry (group_name, stream, visible_at);

-- Dead letters, per group, until replayed or deleted.
CREATE TABLE IF NOT EXISTS ${p}dead_letter (
  id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  group_name  VARCHAR(200) NOT NULL,
  stream      VARCHAR(200) NOT NULL,
  msg_key     VARCHAR(255),
  event_id    VARCHAR(100),
  event_type  VARCHAR(255),
  headers     MEDIUMTEXT   NOT NULL,
  body        LONGBLOB     NOT NULL,
  priority    SMALLINT     NOT NULL DEFAULT 0,
  reason      MEDIUMTEXT   NOT NULL,
  dead_at     BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS ${p}dead_letter_group ON ${p}dead_letter (group_name, id);
