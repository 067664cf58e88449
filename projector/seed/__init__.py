"""Seeded histories (demo, benchmarks, tests) and bearer-token helpers."""

from projector.seed.history import DemoHistory, demo_history, generate_history
from projector.seed.tokens import new_token, session_issued, token_hash

__all__ = [
    "DemoHistory",
    "demo_history",
    "generate_history",
    "new_token",
    "session_issued",
    "token_hash",
]
