"""The durable record: the hash-chained journal, session snapshots, replay, the driver lock, crash recovery."""
