"""Dead letters: events the projector could not apply, kept with the reason until replayed."""

from projector.dead_letters.records import DeadLetter, RecordedDeadLetter
from projector.dead_letters.replay import ReplayReport, replay
from projector.dead_letters.store import DeadLetterStore

__all__ = ["DeadLetter", "DeadLetterStore", "RecordedDeadLetter", "ReplayReport", "replay"]
