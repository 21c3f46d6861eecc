import uuid

import orjson
import pytest
from helpdesk_events import (
    Actor,
    AgentAvailabilityChanged,
    AgentSnapshot,
    Change,
    TicketStatusChanged,
    UndecodableEvent,
    UnknownEvent,
    decode_event,
    encode_event,
)

from tests.events.helpers import NOW, snapshot


def status_changed():
    ticket = snapshot()
    return TicketStatusChanged(
        occurred_at=NOW,
        ticket_id=ticket.id,
        actor=Actor(kind="rule", id="17", name="Escalate"),
        correlation_id=uuid.uuid4(),
        causation_id=uuid.uuid4(),
        depth=1,
        changes={"status": Change(before="new", after="open")},
        ticket=ticket,
    )


def test_round_trip_keeps_every_field():
    event = status_changed()
    decoded = decode_event(encode_event(event))
    assert isinstance(decoded, TicketStatusChanged)
    assert decoded == event
    assert decoded.partition_key() == str(event.ticket_id).encode()


def test_agent_events_are_keyed_by_agent():
    agent_id = uuid.uuid4()
    event = AgentAvailabilityChanged(
        occurred_at=NOW,
        agent_id=agent_id,
        actor=Actor(kind="agent", id=str(agent_id)),
        correlation_id=uuid.uuid4(),
        agent=AgentSnapshot(id=agent_id, name="Ann", email="a@x.io", role="agent", active=True),
    )
    assert decode_event(encode_event(event)).partition_key() == str(agent_id).encode()


def test_unknown_type_decodes_to_unknown_event():
    raw = orjson.loads(encode_event(status_changed()))
    raw["type"] = "ticket.teleported"
    decoded = decode_event(orjson.dumps(raw))
    assert isinstance(decoded, UnknownEvent)
    assert decoded.type == "ticket.teleported"


def test_unknown_fields_are_ignored():
    raw = orjson.loads(encode_event(status_changed()))
    raw["added_in_a_later_version"] = {"x": 1}
    raw["ticket"]["new_snapshot_field"] = 5
    decoded = decode_event(orjson.dumps(raw))
    assert isinstance(decoded, TicketStatusChanged)
    assert not hasattr(decoded, "added_in_a_later_version")


@pytest.mark.parametrize(
    "data", [b"not json", b"[]", b'{"type": "ticket.created"}', b'{"id": "1"}']
)
def test_garbage_is_undecodable(data):
    with pytest.raises(UndecodableEvent):
        decode_event(data)


def test_known_type_with_broken_body_is_undecodable():
    raw = orjson.loads(encode_event(status_changed()))
    del raw["ticket"]
    with pytest.raises(UndecodableEvent):
        decode_event(orjson.dumps(raw))


def test_events_are_frozen():
    event = status_changed()
    with pytest.raises(Exception):
        event.depth = 5
