"""Applying projected changes to Redis: each owner's share of a batch in one script, gated by
the versions that owner read (one script per batch on one Redis, one per slot on a cluster)."""

from projector.writer.redis_projector import (
    BatchResult,
    KeepsConflictingError,
    NoGenerationError,
    Poison,
    RedisProjector,
)

__all__ = ["BatchResult", "KeepsConflictingError", "NoGenerationError", "Poison", "RedisProjector"]
