"""record(): one gapless chain, and values that hash the same after a database round trip."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from django.db import transaction
from hypothesis import given
from hypothesis import strategies as st

from phidesk.audit.chain import GENESIS, canonical, event_hash
from phidesk.audit.models import AuditEvent
from phidesk.audit.services import _ip, _template, record
from phidesk.audit.stream import rows
from phidesk.core.actor import Actor

pytestmark = pytest.mark.django_db


def actor(**kw) -> Actor:
    base = {
        "user_id": 7,
        "organization_id": 3,
        "email": "a@example.org",
        "roles": frozenset({"agent"}),
        "ip": "10.0.0.9",
        "user_agent": "Mozilla/5.0",
        "session_key": "s3cr3t-session",
    }
    return Actor(**{**base, **kw})


def stored_values(seq: int) -> dict:
    return AuditEvent.objects.filter(seq=seq).values().get()


def test_events_form_one_gapless_chain():
    events = [record(actor=actor(), action="ticket.view", resource_type="ticket", resource_id=i)
              for i in range(5)]  # fmt: skip
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    for e in events:
        assert event_hash(stored_values(e.seq)) == e.hash


def test_the_session_key_is_never_stored():
    event = record(actor=actor(), action="ticket.view")
    row = stored_values(event.seq)
    assert "s3cr3t" not in str(row)
    assert len(row["actor_session"]) == 32


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("fe80::1%eth0", "fe80::1"),
        ("::1", "::1"),
        ("::1.2.3.4", "1.2.3.4"),
        ("not-an-ip", None),
        ("", None),
    ],
)
def test_ip_addresses_are_stored_in_one_form(given: str, stored: str | None):
    assert _ip(given) == stored
    event = record(actor=actor(ip=given), action="session.login")
    row = stored_values(event.seq)
    assert row["ip"] == stored
    assert event_hash(row) == event.hash


def test_awkward_text_and_detail_survive_the_round_trip():
    event = record(
        actor=actor(user_agent="Agent\x00 with NUL and \ud800 surrogate " + "x" * 400),
        action="ticket.update",
        resource_id="HD-1",
        reason="ünïcödé 🚑 reason",
        detail={
            "float": 1e20,
            "nested": {"b": [1, 2, {"c": None}], "a": True},
            "set": {3, 1, 2},
            "when": dt.datetime(2026, 12, 3, tzinfo=dt.UTC),
            "text\x00key": "v\x00",
            2: "int key",
        },
    )
    row = stored_values(event.seq)
    assert "\x00" not in row["user_agent"] and len(row["user_agent"]) == 300
    assert row["detail"]["float"] == "1e+20"
    assert row["detail"]["set"] == [1, 2, 3]
    assert row["detail"]["2"] == "int key"
    assert event_hash(row) == event.hash
    (streamed,) = rows(start=event.seq, end=event.seq)
    assert streamed.canonical == canonical(row)


def test_record_outside_a_transaction_and_inside_one():
    first = record(actor=None, action="system.start", organization_id=1)
    with transaction.atomic():
        second = record(actor=None, action="system.tick", organization_id=1)
    assert second.seq == first.seq + 1 and second.prev_hash == first.hash


def test_a_rolled_back_transaction_leaves_no_gap():
    first = record(actor=None, action="a", organization_id=1)

    def failing_change() -> None:
        with transaction.atomic():
            record(actor=None, action="b", organization_id=1)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    third = record(actor=None, action="c", organization_id=1)
    assert third.seq == first.seq + 1 and third.prev_hash == first.hash


def test_unknown_outcome_is_a_programming_error():
    with pytest.raises(ValueError):
        record(actor=None, action="x", outcome="maybe")


def test_the_database_template_rebuilds_the_canonical_bytes():
    values = {
        "occurred_at": dt.datetime.now(dt.UTC),
        "organization_id": 1,
        "actor_user_id": None,
        "actor_token_id": None,
        "actor_session": "",
        "action": "x",
        "resource_type": "",
        "resource_id": '","seq":0,"user_agent":',  # data cannot imitate the slots
        "outcome": "allowed",
        "reason": '"prev_hash":"' + "#" * 64 + '"',
        "ip": None,
        "user_agent": ',"seq":0,"user_agent":',
        "device_id": "",
        "detail": {"prev_hash": "#" * 64, "seq": 0},
    }
    head, mid, tail = _template(values)
    prev = "ab" * 32
    full = canonical({**values, "seq": 42, "prev_hash": prev})
    assert f"{head}{prev}{mid}42{tail}".encode() == full


text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)
json_leaf = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)


@given(
    seq=st.integers(1, 2**62),
    micro=st.integers(0, 999_999),
    ids=st.tuples(*[st.none() | st.integers(1, 2**62)] * 3),
    texts=st.tuples(*[text] * 8),
    ip=st.none() | st.sampled_from(["10.0.0.1", "2001:db8::1"]),
    detail=st.dictionaries(text, json_value, max_size=5),
)
def test_the_fast_row_encoder_matches_the_canonical_serialization(
    seq, micro, ids, texts, ip, detail
):
    from phidesk.audit.standalone_verify import canonical_json
    from phidesk.audit.stream import canonical_from_columns

    occurred = dt.datetime(2026, 12, 3, 1, 2, 3, micro, tzinfo=dt.UTC)
    ts = occurred.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    org, user, token = ids
    session, action, rtype, rid, outcome, reason, agent, device = texts
    body = {
        "seq": seq, "occurred_at": ts, "organization_id": org, "actor_user_id": user,
        "actor_token_id": token, "actor_session": session, "action": action,
        "resource_type": rtype, "resource_id": rid, "outcome": outcome, "reason": reason,
        "ip": ip, "user_agent": agent, "device_id": device, "detail": detail,
        "prev_hash": "ab" * 32,
    }  # fmt: skip
    stored = json.dumps(detail)  # as a database hands it back: any key order and spacing
    columns = (seq, ts, org, user, token, session, action, rtype, rid, outcome, reason, ip,
               agent, device, stored, "ab" * 32, "hash")  # fmt: skip
    assert canonical_from_columns(columns) == canonical_json(body)
