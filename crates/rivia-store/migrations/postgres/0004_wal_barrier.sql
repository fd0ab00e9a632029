-- One row per server connection (backend pid). A short write transaction whose commit is
-- asynchronous (so the hot rows it updates are unlocked without waiting for the WAL flush)
-- is followed on the same connection by a synchronously committed bump of this row: its
-- flush covers the earlier commit, so the write is durable before it is acknowledged.
CREATE TABLE wal_barrier (
    pid INTEGER PRIMARY KEY,
    writes BIGINT NOT NULL
);
