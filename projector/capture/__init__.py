"""Dify capture: changes in a Dify PostgreSQL database turned into contract events."""

from projector.capture.changes import Change, ChangeFeed, FeedPosition, SnapshotInProgressError
from projector.capture.install import InstallReport, install, installed_tables, uninstall
from projector.capture.lock import CaptureBusyError
from projector.capture.runner import CURSOR_NAME, BatchReport, CaptureRunner, RunReport
from projector.capture.snapshot import SnapshotRefusedError, SnapshotReport, Snapshotter
from projector.capture.translate import translate

__all__ = [
    "CURSOR_NAME",
    "BatchReport",
    "CaptureBusyError",
    "CaptureRunner",
    "Change",
    "ChangeFeed",
    "FeedPosition",
    "InstallReport",
    "RunReport",
    "SnapshotInProgressError",
    "SnapshotRefusedError",
    "SnapshotReport",
    "Snapshotter",
    "install",
    "installed_tables",
    "translate",
    "uninstall",
]
