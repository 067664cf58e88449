"""The relay's publisher: stored events onto the events exchange, confirmed by the broker."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from kombu.connection import Connection
from kombu.messaging import Producer

from projector.broker import topology as topo
from projector.broker import wire
from projector.broker.connection import broker_errors
from projector.broker.errors import BrokerUnavailableError
from projector.fold.addressing import addressees
from projector.fold.projection import References
from projector.store import Cursor
from shared.events import StoredEvent

log = logging.getLogger(__name__)

_PERSISTENT = 2
_CONFIRM_TIMEOUT = 30.0


class Publisher:
    """Publishes events persistently; `publish` returns only once the broker has them all.

    On RabbitMQ the channel is in confirm mode and `mandatory` is set, so a message the
    broker could not route or store comes back as an error instead of being dropped. The
    confirms of a batch are awaited together, after the last publish: waiting after each
    message (kombu's `confirm_publish` option) costs a round trip and a quorum-queue write
    per message, about a thousand messages a second. Any broker failure drops the
    connection and raises BrokerUnavailableError; the caller publishes the whole batch
    again (a duplicate on the wire is harmless, a loss is not).
    """

    def __init__(
        self,
        connection: Connection,
        topology: topo.Topology,
        references: References,
        *,
        confirm_timeout: float = _CONFIRM_TIMEOUT,
    ) -> None:
        self._connection = connection
        self._topology = topology
        self._references = references
        self._amqp = topo.is_amqp(connection)
        self._errors = broker_errors(connection)
        self._confirm_timeout = confirm_timeout
        self._producer: Producer | None = None
        self._confirms: _Confirms | None = None
        self._exchange = topo.events_exchange(topology)

    def publish(self, batch: Sequence[tuple[Cursor, StoredEvent]]) -> None:
        """Publish every event of `batch`, in order, each with its relay cursor in the headers:
        one message per partition of the owners it goes to (projector/fold/addressing.py)."""
        addressed = addressees([stored for _, stored in batch], self._references)
        try:
            producer = self._ready()
            for (cursor, stored), owners in zip(batch, addressed, strict=True):
                for partition, to in self._topology.by_partition(owners).items():
                    if self._confirms is not None:
                        self._confirms.expect()
                    producer.publish(
                        wire.encode(stored, to),
                        exchange=self._exchange,
                        routing_key=self._topology.routing_key(partition, to),
                        content_type=wire.CONTENT_TYPE,
                        content_encoding="utf-8",
                        delivery_mode=_PERSISTENT,
                        mandatory=self._amqp,
                        message_id=stored.event.id,
                        headers={"position": stored.position, "txid": cursor.txid},
                        retry=False,
                    )
            if self._confirms is not None:
                self._confirms.wait(self._connection, self._confirm_timeout)
        except self._errors as exc:
            self.reset()
            raise BrokerUnavailableError(f"the broker is unavailable: {exc!r}") from exc
        except BrokerUnavailableError:
            self.reset()
            raise

    def reset(self) -> None:
        """Drop the connection; the next publish connects and declares again."""
        self._producer = None
        self._confirms = None
        try:
            self._connection.close()
        except self._errors:
            log.debug("closing a failed broker connection failed too", exc_info=True)

    def close(self) -> None:
        """Release the broker connection."""
        self.reset()

    def _ready(self) -> Producer:
        if self._producer is None:
            # One attempt: retrying is the relay's business, with its own back-off.
            self._connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
            channel: Any = self._connection.default_channel
            topo.declare(channel, self._topology, amqp=self._amqp)
            self._confirms = _Confirms(channel) if self._amqp else None
            self._producer = Producer(channel, exchange=self._exchange, auto_declare=False)
        return self._producer


class _Confirms:
    """RabbitMQ publisher confirms of one channel: publish a batch, then wait for all its acks."""

    def __init__(self, channel: Any) -> None:
        channel.confirm_select()
        self._sent = 0  # the broker numbers the channel's messages 1, 2, 3, ... after confirm.select
        self._outstanding: set[int] = set()
        self._refused: list[str] = []
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        channel.events["basic_return"].add(self._on_return)

    def expect(self) -> None:
        """Note one more message published."""
        self._sent += 1
        self._outstanding.add(self._sent)

    def wait(self, connection: Connection, timeout: float) -> None:
        """Return when every published message is confirmed; raise if one was refused."""
        deadline = time.monotonic() + timeout
        while self._outstanding:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerUnavailableError(
                    f"{len(self._outstanding)} publishes unconfirmed after {timeout}s"
                )
            try:
                connection.drain_events(timeout=remaining)
            except TimeoutError:
                continue
        if self._refused:
            refused, self._refused = self._refused, []
            raise BrokerUnavailableError(f"the broker refused {len(refused)} messages: {refused[0]}")

    def _settle(self, tag: int, multiple: bool) -> None:
        if multiple:
            self._outstanding = {t for t in self._outstanding if t > tag}
        else:
            self._outstanding.discard(tag)

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self._settle(tag, multiple)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._refused.append(f"nack for message {tag}")
        self._settle(tag, multiple)

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, _message: Any) -> None:
        # An unroutable mandatory message: returned first, then acked.
        self._refused.append(f"{exc} (exchange {exchange!r}, routing key {routing_key!r})")
