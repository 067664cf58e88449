"""The projector's consumer: kombu's ConsumerMixin, batching deliveries into the writer.

Messages are collected as they arrive and handed to the batch handler when the buffer is
full or the queue has been quiet for a few milliseconds; each is acknowledged only after
the handler settled it. When Redis or the store fails, the same batch is retried after a
back-off, unacknowledged; when the broker goes away, the consumer reconnects with a back-off
of its own (kombu's sleeps a minute at a time, deaf to a stop) and the broker redelivers
whatever was not acknowledged. `stop()` ends every wait at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from kombu.connection import Connection
from kombu.message import Message
from kombu.mixins import ConsumerMixin

from projector.broker import topology as topo
from projector.broker.backoff import Backoff
from projector.broker.batch import TRANSIENT_ERRORS, Applier, BatchHandler, DeadLetterSink, Totals
from projector.broker.connection import broker_errors
from projector.broker.errors import BrokerUnavailableError
from projector.dead_letters.records import DeadLetter
from projector.store import Cursor
from shared.errors import StoreError

log = logging.getLogger(__name__)


class _Stopped(Exception):
    """Raised out of a wait for the broker when the consumer is asked to stop."""


class CursorCheckpoint:
    """Saves the cursor of the last message applied, at most every `interval` seconds.

    It tells a self-healer what Redis must at least contain, and, with one queue delivered
    in order, where a relay may restart when the in-process broker forgot its messages.
    """

    def __init__(
        self,
        save: Callable[[Cursor], None],
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._save = save
        self._interval = interval
        self._clock = clock
        self._pending: Cursor | None = None
        self._saved_at: float | None = None

    def advance(self, cursor: Cursor) -> None:
        """Note `cursor` as applied; saved now if the last save is old enough."""
        self._pending = cursor
        now = self._clock()
        if self._saved_at is None or now - self._saved_at >= self._interval:
            self.flush()

    def flush(self) -> None:
        """Save the last noted cursor, if it is not saved yet (kept for later if the store is down)."""
        if self._pending is None:
            return
        try:
            self._save(self._pending)
        except StoreError as exc:  # advisory: a later save covers this one
            log.warning("could not save the projector's checkpoint (%s); saving it later", exc)
            return
        self._pending = None
        self._saved_at = self._clock()


class ProjectorConsumer(ConsumerMixin):
    """Consumes the partition queues and applies their events to Redis in batches."""

    def __init__(
        self,
        connection: Connection,
        projector: Applier,
        dead_letters: DeadLetterSink,
        *,
        topology: topo.Topology,
        partitions: Iterable[int] | None = None,
        prefetch_count: int = 500,
        batch_size: int = 500,
        quiet_seconds: float = 0.005,
        max_batch_wait: float = 0.05,
        idle_wait: float = 0.25,
        max_attempts: int = 3,
        backoff: Backoff | None = None,
        reconnect_backoff: Backoff | None = None,
        checkpoint: CursorCheckpoint | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connection = connection
        self._handler = BatchHandler(projector, dead_letters, max_attempts=max_attempts)
        self._topology = topology
        self._partitions = None if partitions is None else tuple(partitions)
        self._prefetch_count = prefetch_count
        # The broker stops delivering at `prefetch_count` unacknowledged messages.
        self._batch_size = min(batch_size, prefetch_count)
        self._quiet = quiet_seconds
        self._max_batch_wait = max_batch_wait
        self._idle_wait = idle_wait
        self._backoff = backoff or Backoff()
        self._reconnect_backoff = reconnect_backoff or Backoff(first=0.5, cap=10.0)
        self._checkpoint = checkpoint
        self._clock = clock
        self._buffer: list[Message] = []
        self._first_at = 0.0
        self._last_at = 0.0
        self._stopping = threading.Event()
        self._active: Connection | None = None
        self.totals = Totals()

    # --- lifecycle ----------------------------------------------------------------------

    def stop(self) -> None:
        """Ask `run()` to return soon (from a signal handler or another thread)."""
        self.should_stop = True
        self._stopping.set()

    @property
    def active_connection(self) -> Connection | None:
        """The connection currently consuming (None between connections)."""
        return self._active

    # --- ConsumerMixin ------------------------------------------------------------------

    def get_consumers(self, Consumer: Any, channel: Any) -> list[Any]:  # noqa: N803 (kombu's name)
        # Deliveries buffered on a previous connection can no longer be acknowledged (the
        # broker redelivers them). Cleared here, before consuming starts: messages of the
        # first queues may arrive while the last one is still being subscribed.
        self._buffer.clear()
        amqp = topo.is_amqp(self.connection)
        topo.declare(channel, self._topology, amqp=amqp)
        queues = topo.partition_queues(self._topology, amqp=amqp, partitions=self._partitions)
        return [Consumer(queues=queues, on_message=self._on_message, prefetch_count=self._prefetch_count)]

    def on_consume_ready(self, connection: Connection, channel: Any, consumers: Any, **kwargs: Any) -> None:
        self._active = connection
        log.info("consuming %s", ", ".join(q.name for c in consumers for q in c.queues))

    def on_consume_end(self, connection: Connection, channel: Any) -> None:
        self._active = None

    def on_connection_error(self, exc: BaseException, interval: float) -> None:
        log.warning("broker unavailable (%s); retrying in %.1fs", exc, interval)

    @contextmanager
    def establish_connection(self) -> Iterator[Connection]:
        """A connection, retried with back-off until it is up or the consumer is stopped."""
        with self.create_connection() as connection:
            while True:
                try:
                    # One attempt: the retrying is done here, where a stop can end the wait.
                    connection.ensure_connection(max_retries=0)
                    break
                except broker_errors(connection) as exc:
                    delay = self._reconnect_backoff.next()
                    self.on_connection_error(exc, delay)
                    if self._stopping.wait(delay):
                        raise _Stopped from None
            self._reconnect_backoff.reset()
            yield connection

    def consume(
        self,
        limit: int | None = None,
        timeout: float | None = None,
        safety_interval: float = 1,
        **kwargs: Any,
    ) -> Generator[None, Any, None]:
        """Drain deliveries into the buffer and flush it when it is full or the queue is quiet."""
        with self.consumer_context(**kwargs) as (connection, _channel, _consumers):
            while not self.should_stop:
                try:
                    connection.drain_events(timeout=self._wait_time())
                except TimeoutError:  # socket.timeout: nothing arrived in time
                    connection.heartbeat_check()
                except OSError:
                    if not self.should_stop:
                        raise
                if self._buffer and self._due():
                    self._flush()
                yield
            if self._buffer:  # stopping: settle what was delivered rather than have it redelivered
                self._flush()

    # --- batching -----------------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        now = self._clock()
        if not self._buffer:
            self._first_at = now
        self._last_at = now
        self._buffer.append(message)

    def _wait_time(self) -> float:
        if not self._buffer:
            return self._idle_wait
        now = self._clock()
        deadline = min(self._last_at + self._quiet, self._first_at + self._max_batch_wait)
        # drain_events treats 0 as "wait forever" on some transports.
        return max(deadline - now, 0.001)

    def _due(self) -> bool:
        if len(self._buffer) >= self._batch_size:
            return True
        now = self._clock()
        return now - self._last_at >= self._quiet or now - self._first_at >= self._max_batch_wait

    def _flush(self) -> None:
        batch = [_Settlement(message) for message in self._buffer]
        self._buffer = []
        while True:
            try:
                outcome = self._handler.handle(batch)
            except TRANSIENT_ERRORS as exc:
                delay = self._backoff.next()
                log.warning("cannot apply a batch of %d (%s); retrying in %.2fs", len(batch), exc, delay)
                if self._stopping.wait(delay):
                    return  # unacknowledged: the broker redelivers them to the next consumer
                continue
            break
        self._settle(batch)
        self._backoff.reset()
        self.totals.add(outcome)
        if self._checkpoint is not None and not outcome.requeued:
            # Every delivery is settled, applied or dead-lettered (the watermark passes dead
            # letters too): the checkpoint may pass them all.
            cursors = [cursor for item in batch if (cursor := _cursor_of(item)) is not None]
            if cursors:
                self._checkpoint.advance(cursors[-1])

    def _settle(self, batch: list[_Settlement]) -> None:
        """Send the batch's acknowledgements: on RabbitMQ one frame for all of them."""
        acked = [item for item in batch if item.acked]
        if not acked:
            return
        # Everything delivered before the last acknowledged message is settled by now (the
        # others were rejected one by one), so a cumulative ack covers exactly this batch.
        # The virtual transports ignore `multiple`, so they get one ack each.
        if topo.is_amqp(self.connection) and all(item.settled for item in batch):
            max(acked, key=lambda item: item.message.delivery_tag or 0).message.ack(multiple=True)
            return
        for item in acked:
            item.message.ack()

    def run(self, _tokens: int = 1, **kwargs: Any) -> None:
        """Consume until `stop()`; reconnects, with back-off, whenever the broker connection is lost."""
        try:
            while not self.should_stop:
                try:
                    for _ in self.consume(limit=None, **kwargs):
                        pass
                except _Stopped:
                    break
                except broker_errors(self.connection) as exc:
                    if self.should_stop:
                        break
                    delay = self._reconnect_backoff.next()
                    log.warning("broker connection lost (%s); reconnecting in %.1fs", exc, delay)
                    self._stopping.wait(delay)
        finally:
            if self._checkpoint is not None:
                self._checkpoint.flush()


class _Settlement:
    """A delivery whose acknowledgement is noted, to be sent for the whole batch at once."""

    __slots__ = ("acked", "message", "rejected")

    def __init__(self, message: Message) -> None:
        self.message = message
        self.acked = False
        self.rejected = False

    @property
    def body(self) -> bytes | str | None:
        return self.message.body

    @property
    def headers(self) -> dict[str, Any]:
        return self.message.headers or {}

    @property
    def settled(self) -> bool:
        return self.acked or self.rejected

    def ack(self) -> None:
        self.acked = True

    def reject(self, requeue: bool = False) -> None:
        self.message.reject(requeue=requeue)
        self.rejected = not requeue


def _cursor_of(delivery: Any) -> Cursor | None:
    """The relay cursor a message carries in its headers."""
    headers = getattr(delivery, "headers", None) or {}
    position = headers.get("position")
    if not isinstance(position, int):
        return None
    txid = headers.get("txid")
    return Cursor(txid if isinstance(txid, int) else None, position)


def drain_dead_letter_queue(connection: Connection, topology: topo.Topology, sink: DeadLetterSink) -> int:
    """Move what RabbitMQ dead-lettered into the dead-letter table; returns how many moved.

    Messages the broker gave up on (over the delivery limit) are only there; rejected ones
    are already in the table, and are left as they are.
    """
    if not topo.is_amqp(connection):
        return 0
    from projector.broker import wire

    moved = 0
    errors = broker_errors(connection)
    try:
        channel: Any = connection.channel()
        queue = topo.dead_letter_queue(topology)(channel)
        queue.declare()
        while True:
            message = queue.get(no_ack=False)
            if message is None:
                return moved
            body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
            identity = wire.identify(body)
            reason = _death_reason(message.headers or {})
            letter = DeadLetter(
                reason=reason,
                position=identity.position,
                event_id=identity.event_id,
                stream=identity.stream,
                type=identity.type,
                body=body if identity.position is None else None,
            )
            sink.record([letter], count_attempts=False)
            message.ack()
            moved += 1
    except errors as exc:
        raise BrokerUnavailableError(f"the broker is unavailable: {exc}") from exc


def _death_reason(headers: dict[str, Any]) -> str:
    deaths = headers.get("x-death") or []
    if deaths and isinstance(deaths[0], dict):
        death = deaths[0]
        return f"dead-lettered by the broker ({death.get('reason')}, queue {death.get('queue')})"
    return "dead-lettered by the broker"


def dead_letter_queue_depth(connection: Connection, topology: topo.Topology) -> int | None:
    """How many messages wait in RabbitMQ's dead-letter queue (None on other transports)."""
    if not topo.is_amqp(connection):
        return None
    try:
        channel: Any = connection.channel()
        try:
            declared = topo.dead_letter_queue(topology)(channel).queue_declare()
        finally:
            channel.close()
    except broker_errors(connection) as exc:
        raise BrokerUnavailableError(f"the broker is unavailable: {exc}") from exc
    return int(declared.message_count)
