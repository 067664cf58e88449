"""What each key family of the live generation costs in Redis; see bench/README.md.

Every key of the live generation is asked `MEMORY USAGE … SAMPLES 0` (every element
counted) and grouped by its family: its suffix with the ids replaced by what they name
(`{O}`: an owner's hash tag, `{D}`: an SSO subject's, `{xx}`: a bucket, `<id>`, `<sha>`).
Prints a Markdown table, biggest family first, with the bytes per app when `--apps` is
given (the divisor the capacity figures use: the `app.created` events of the store), then
the mean size of each field of the apps' hashes, where most of an app's bytes are.

    uv run python bench/memory_families.py --redis redis://127.0.0.1:6392/0 --apps 30000

The sum is below `INFO memory`'s `used_memory`: that also counts the main key table, the
scripts, buffers and the allocator's own overhead.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.redis_servers import all_keys
from projector.generations import live_generation
from shared.readmodel import keys
from shared.readmodel.connection import connect, is_cluster

_PATTERNS = (
    (re.compile(r"\{[0-9a-f-]{36}\}"), "{O}"),
    (re.compile(r"\{[0-9a-f]{32}\}"), "{D}"),
    (re.compile(r"\{[0-9a-f]{2}\}"), "{xx}"),
    (re.compile(r"[0-9a-f]{64}"), "<sha>"),
    (re.compile(r"[0-9a-f-]{36}"), "<id>"),
    (re.compile(r"(idx:tag:|idx:mode:).*"), r"\1<name>"),
)
_CHUNK = 1000


@dataclass
class Family:
    keys: int = 0
    bytes: int = 0
    encodings: dict[str, int] = field(default_factory=dict)


def family(suffix: str) -> str:
    """A key suffix with its ids replaced by what they name."""
    for pattern, replacement in _PATTERNS:
        suffix = pattern.sub(replacement, suffix)
    return suffix


def families(client: Any, generation: str) -> dict[str, Family]:
    prefix = keys.full_key(generation, "")
    names = [name for name in all_keys(client) if name.decode().startswith(prefix)]
    found: dict[str, Family] = {}
    for start in range(0, len(names), _CHUNK):
        chunk = names[start : start + _CHUNK]
        sizes, encodings = _ask(client, chunk)
        for name, size, encoding in zip(chunk, sizes, encodings, strict=True):
            entry = found.setdefault(family(name.decode()[len(prefix) :]), Family())
            entry.keys += 1
            entry.bytes += size or 0
            kind = encoding.decode() if isinstance(encoding, bytes) else str(encoding)
            entry.encodings[kind] = entry.encodings.get(kind, 0) + 1
    return found


def app_fields(client: Any, generation: str) -> dict[str, tuple[int, float]]:
    """(hashes holding it, mean bytes) of each field of the apps' hashes."""
    prefix = keys.full_key(generation, "")
    names = [
        name
        for name in all_keys(client)
        if name.decode().startswith(prefix + "app:{") and keys.owner_tag(name.decode()[len(prefix) :])
    ]
    totals: dict[str, list[int]] = {}
    for start in range(0, len(names), _CHUNK):
        for fields in _hashes(client, names[start : start + _CHUNK]):
            for name, value in fields.items():
                entry = totals.setdefault(name.decode(), [0, 0])
                entry[0] += 1
                entry[1] += len(value)
    return {name: (count, size / count) for name, (count, size) in totals.items()}


def _ask(client: Any, names: list[Any]) -> tuple[list[Any], list[Any]]:
    if is_cluster(client):
        sizes = [client.memory_usage(name, samples=0) for name in names]
        return sizes, [client.object("encoding", name) for name in names]
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.memory_usage(name, samples=0)
        pipe.object("encoding", name)
    answers = pipe.execute()
    return answers[0::2], answers[1::2]


def _hashes(client: Any, names: Iterable[Any]) -> list[dict[bytes, bytes]]:
    if is_cluster(client):
        return [client.hgetall(name) for name in names]
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.hgetall(name)
    return pipe.execute()


def table(found: dict[str, Family], apps: int | None) -> list[str]:
    total = sum(entry.bytes for entry in found.values())
    lines = [
        "| family | keys | bytes | per key | per app | share | encodings |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, entry in sorted(found.items(), key=lambda item: -item[1].bytes):
        per_app = f"{entry.bytes / apps:,.0f}" if apps else ""
        encodings = ", ".join(f"{kind} {count:,}" for kind, count in sorted(entry.encodings.items()))
        lines.append(
            f"| `{name}` | {entry.keys:,} | {entry.bytes:,} | {entry.bytes / entry.keys:,.0f} | {per_app} "
            f"| {100 * entry.bytes / max(1, total):.1f} % | {encodings} |"
        )
    per_app = f"{total / apps:,.0f}" if apps else ""
    keys_total = sum(entry.keys for entry in found.values())
    lines.append(f"| all | {keys_total:,} | {total:,} | | {per_app} | 100 % | |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redis", required=True, help="the read model's Redis URL")
    parser.add_argument("--apps", type=int, help="divide by this many apps (app.created events)")
    args = parser.parse_args()
    client: Any = connect(args.redis)
    generation = live_generation(client)
    if generation is None:
        raise SystemExit("no live generation")
    for line in table(families(client, generation), args.apps):
        print(line)
    print()
    print("| app hash field | hashes holding it | mean bytes |")
    print("|---|---:|---:|")
    for name, (count, mean) in sorted(app_fields(client, generation).items(), key=lambda item: -item[1][1]):
        print(f"| `{name}` | {count:,} | {mean:,.0f} |")


if __name__ == "__main__":
    main()
