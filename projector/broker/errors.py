"""The broker's failures in the project's vocabulary."""

from __future__ import annotations

from shared.errors import ReadModelError


class BrokerUnavailableError(ReadModelError):
    """The broker could not be reached or refused a publish; transient, worth a retry."""
