"""Observability of the relay, projector and replay processes: metrics, sampling, /metrics."""
