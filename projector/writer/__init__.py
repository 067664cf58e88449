"""Applying projected changes to Redis: one Lua call per event, pipelined per batch."""

from projector.writer.redis_projector import BatchResult, NoGenerationError, Poison, RedisProjector

__all__ = ["BatchResult", "NoGenerationError", "Poison", "RedisProjector"]
