"""Alembic environment: migrations run on the connection `migrate()` hands over."""

from __future__ import annotations

from alembic import context

if context.is_offline_mode():
    raise RuntimeError("the store migrations run online only, through `readmodel migrate`")

context.configure(connection=context.config.attributes["connection"], target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
