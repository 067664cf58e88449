"""CPU time from /proc: of a process session, of a process and its children, of whole cores.

Only live processes count: a process that exits between two readings takes its time with
it, so measure servers whose workers live through the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcessTimes:
    pid: int
    parent: int
    session: int
    seconds: float  # user + system


def processes() -> Iterator[ProcessTimes]:
    """Every process this user may read, with its parent, session and CPU seconds."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                text = stat.read()
        except OSError:
            continue  # exited meanwhile
        # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
        fields = text[text.rindex(")") + 2 :].split()
        parent, session = int(fields[1]), int(fields[3])
        seconds = (int(fields[11]) + int(fields[12])) / TICKS
        yield ProcessTimes(int(entry), parent, session, seconds)


def session_seconds(session: int) -> float:
    """CPU seconds of the live processes of a session (a server started in a session of its own)."""
    return sum(process.seconds for process in processes() if process.session == session)


def family_seconds(pid: int) -> float:
    """CPU seconds of a process and its live children (a postmaster and its backends)."""
    return sum(process.seconds for process in processes() if pid in (process.pid, process.parent))


def busy_seconds(cpus: set[int]) -> float:
    """Seconds the given cores spent on anything but idling, summed over them (/proc/stat)."""
    busy = 0.0
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            name, *values = line.split()
            if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
                continue
            ticks = [int(value) for value in values]
            idle = ticks[3] + ticks[4]  # idle, iowait
            busy += (sum(ticks[:8]) - idle) / TICKS  # user ... steal; guest time is inside user
    return busy


def cpu_list(text: str) -> set[int]:
    """The cores of a taskset CPU list such as `1`, `0,1` or `0-3`."""
    cores: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        cores.update(range(int(first), int(last or first) + 1))
    return cores
