//! Per-shard coordinator wiring (in progress).
