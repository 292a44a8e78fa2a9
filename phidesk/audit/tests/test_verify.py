"""`audit verify` finds every kind of tampering and names the first bad event.

Each test does what a database superuser could: switch off the append-only triggers
and change rows directly. Runs on SQLite and, with PHIDESK_TEST_DATABASE_URL, PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import io
import os

import pytest
from django.core.management import CommandError, call_command

from phidesk.audit import signing, worm
from phidesk.audit.chain import event_hash
from phidesk.audit.checkpoints import checkpoint_create
from phidesk.audit.models import AuditEvent
from phidesk.audit.standalone_verify import (
    CheckpointBody,
    leaf_hash,
    merkle_root,
    parse_signer_key,
    sign_note,
    signer_key,
    verifier_key,
)
from phidesk.audit.stream import rows
from phidesk.audit.tests.conftest import guards_dropped, make_events, tamper
from phidesk.audit.verify import verify_log

pytestmark = pytest.mark.django_db


def problem():
    report = verify_log()
    assert not report.ok, "verify should have failed"
    return report.problem


def values(seq: int) -> dict:
    return AuditEvent.objects.filter(seq=seq).values().get()


def rehash_from(seq: int) -> None:
    """A careful forger: recompute every hash from `seq` on so the chain links again."""
    prev = values(seq - 1)["hash"] if seq > 1 else "0" * 64
    for row in AuditEvent.objects.filter(seq__gte=seq).order_by("seq").values():
        row["prev_hash"] = prev
        digest = event_hash(row)
        tamper(
            "UPDATE audit_auditevent SET prev_hash = %s, hash = %s WHERE seq = %s",
            [prev, digest, row["seq"]],
        )
        prev = digest


def test_an_untouched_log_verifies():
    make_events(40)
    checkpoint_create()
    make_events(5)
    report = verify_log()
    assert report.ok, report.problem
    assert report.events == 45 and report.checkpoints_checked == [40] and report.uncovered == 5


def test_an_empty_log_verifies():
    assert verify_log().ok


def test_a_changed_event_is_named():
    make_events(20)
    checkpoint_create()
    tamper("UPDATE audit_auditevent SET reason = 'nothing to see' WHERE seq = 7")
    found = problem()
    assert (found.kind, found.seq) == ("changed", 7)


def test_a_change_with_a_fixed_up_hash_breaks_the_next_link():
    make_events(20)
    row = values(7)
    row["reason"] = "nothing to see"
    tamper("UPDATE audit_auditevent SET reason = %s, hash = %s WHERE seq = 7",
           [row["reason"], event_hash(row)])  # fmt: skip
    found = problem()
    assert found.seq in (7, 8) and found.kind in ("changed", "inserted")


def test_a_deleted_event_is_named():
    make_events(20)
    tamper("DELETE FROM audit_auditevent WHERE seq = 9")
    found = problem()
    assert (found.kind, found.seq) == ("deleted", 9)
    assert "#10" in found.message


def test_the_first_event_deleted():
    make_events(5)
    tamper("DELETE FROM audit_auditevent WHERE seq = 1")
    assert (problem().kind, problem().seq) == ("deleted", 1)


def test_deleted_and_renumbered_is_still_a_deletion():
    make_events(20)
    with guards_dropped():
        tamper("DELETE FROM audit_auditevent WHERE seq = 9")
        for seq in range(10, 21):
            tamper("UPDATE audit_auditevent SET seq = %s WHERE seq = %s", [seq - 1, seq])
    found = problem()
    assert (found.kind, found.seq) == ("deleted", 9)


def forged(seq: int, prev_hash: str) -> dict:
    row = values(1)
    row.update(
        seq=seq,
        action="ticket.view",
        reason="forged",
        prev_hash=prev_hash,
        occurred_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    row["hash"] = event_hash(row)
    return row


def insert(row: dict) -> None:
    with guards_dropped():
        AuditEvent(**row).save(force_insert=True)


def test_a_forged_event_appended_at_the_end_is_named():
    make_events(10)
    insert(forged(11, "f" * 64))
    found = problem()
    assert (found.kind, found.seq) == ("inserted", 11)


def test_an_event_inserted_in_the_middle_is_named():
    make_events(20)
    with guards_dropped():
        for seq in range(20, 4, -1):  # make room at #5
            tamper("UPDATE audit_auditevent SET seq = %s WHERE seq = %s", [seq + 1, seq])
        insert(forged(5, values(4)["hash"]))
    found = problem()
    assert (found.kind, found.seq) == ("inserted", 5)


def test_reordered_events_are_named():
    make_events(20)
    with guards_dropped():
        tamper("UPDATE audit_auditevent SET seq = -1 WHERE seq = 5")
        tamper("UPDATE audit_auditevent SET seq = 5 WHERE seq = 6")
        tamper("UPDATE audit_auditevent SET seq = 6 WHERE seq = -1")
    found = problem()
    assert (found.kind, found.seq) == ("reordered", 5)


def test_a_truncated_tail_after_a_checkpoint_is_named():
    make_events(30)
    checkpoint_create()
    tamper("DELETE FROM audit_auditevent WHERE seq > 26")
    found = problem()
    assert (found.kind, found.seq) == ("truncated", 27)
    assert "checkpoint 30" in found.message


def test_truncation_is_found_even_when_the_checkpoint_rows_are_deleted_too():
    make_events(30)
    checkpoint_create()
    tamper("DELETE FROM audit_auditevent WHERE seq > 26")
    tamper("DELETE FROM audit_checkpoint")
    report = verify_log()
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == ("truncated", 27)
    assert any("WORM store but not the database" in w for w in report.warnings)


def test_a_rewritten_and_rehashed_history_fails_at_the_checkpoint():
    make_events(600)
    checkpoint_create()
    tamper("UPDATE audit_auditevent SET reason = 'rewritten' WHERE seq = 300")
    rehash_from(300)
    found = problem()
    assert found.kind == "rewritten"
    assert 257 <= found.seq <= 300  # localized to the 256-event tile holding #300
    assert "#257..#512" in found.message


def test_a_swapped_checkpoint_signature_is_named():
    make_events(10)
    first = checkpoint_create()
    make_events(10)
    second = checkpoint_create()
    other_signature = first.note.split("\n\n")[1]
    forged_note = second.note.split("\n\n")[0] + "\n\n" + other_signature
    tamper("UPDATE audit_checkpoint SET note = %s WHERE tree_size = 20", [forged_note])
    found = problem()
    assert found.kind == "bad_signature" and "checkpoint 20 (database)" in found.message


def test_a_checkpoint_signed_by_another_key_is_refused():
    make_events(10)
    checkpoint_create()
    name, private = parse_signer_key(signer_key("phidesk.local/audit", os.urandom(32)))
    body = CheckpointBody(
        "phidesk.local/audit", 10, merkle_root([leaf_hash(r.canonical) for r in rows()])
    )
    note = sign_note(body.text(), name, private.sign, private.public_key().public_bytes_raw())
    tamper("UPDATE audit_checkpoint SET note = %s", [note])
    assert problem().kind == "bad_signature"


def test_a_rewritten_log_re_signed_with_the_real_key_is_a_fork(audit_env):
    make_events(10)
    original = checkpoint_create()
    tamper("UPDATE audit_auditevent SET reason = 'rewritten' WHERE seq = 3")
    rehash_from(3)
    tamper("DELETE FROM audit_checkpoint")
    tamper("DELETE FROM audit_merkletile")
    # The forger holds the key but cannot overwrite the WORM copy: it lands elsewhere.
    resigned = audit_env / "worm" / "2099-01"
    signer = signing.get_signer()
    leaves = [leaf_hash(r.canonical) for r in rows()]
    body = CheckpointBody("phidesk.local/audit", 10, merkle_root(leaves))
    note = sign_note(body.text(), signer.name, signer.sign, signer.public_key)
    worm.WormDirectory(resigned).put(worm.checkpoint_name(10), note.encode())
    assert original.note != note
    found = problem()
    assert found.kind == "forked"


def test_missing_worm_copies_are_a_warning_and_backfilled(audit_env):
    make_events(5)
    cp = checkpoint_create()
    path = next(worm.store().checkpoints())[2]
    os.chmod(path, 0o644)
    os.remove(path)
    report = verify_log()
    assert report.ok and "not in the WORM store" in report.warnings[0]
    out = io.StringIO()
    call_command("audit", "checkpoint", stdout=out)
    assert "wrote 1 checkpoint(s) missing from the WORM store" in out.getvalue()
    assert next(worm.store().checkpoints())[1] == cp.note


def test_verify_from_starts_at_the_checkpoint_before():
    make_events(50)
    checkpoint_create()
    make_events(50)
    checkpoint_create()
    make_events(10)
    report = verify_log(from_seq=80)
    assert report.ok and report.start_seq == 51 and report.events == 60
    tamper("UPDATE audit_auditevent SET reason = 'edited' WHERE seq = 20")
    assert verify_log(from_seq=80).ok  # before the range: not looked at
    assert not verify_log().ok
    tamper("UPDATE audit_auditevent SET reason = 'edited' WHERE seq = 95")
    found = verify_log(from_seq=80).problem
    assert (found.kind, found.seq) == ("changed", 95)


def test_the_command_names_the_event_and_exits_non_zero():
    make_events(12)
    checkpoint_create()
    out = io.StringIO()
    call_command("audit", "verify", "--quiet", stdout=out)
    assert out.getvalue().startswith("OK: 12 events verified")
    tamper("UPDATE audit_auditevent SET action = 'ticket.nothing' WHERE seq = 4")
    with pytest.raises(CommandError) as failed:
        call_command("audit", "verify", "--quiet")
    assert failed.value.returncode == 1
    assert "FAIL [changed] event #4" in str(failed.value)


def test_the_command_can_trust_only_an_out_of_band_key(tmp_path):
    make_events(3)
    checkpoint_create()
    key = tmp_path / "key.pub"
    key.write_text(signing.public_key_text())
    call_command("audit", "verify", "--quiet", "--public-key", str(key), stdout=io.StringIO())
    other = parse_signer_key(signer_key("phidesk.local/audit", os.urandom(32)))[1]
    key.write_text(verifier_key("phidesk.local/audit", other.public_key().public_bytes_raw()))
    with pytest.raises(CommandError, match="bad_signature"):
        call_command("audit", "verify", "--quiet", "--public-key", str(key))


def test_verification_continues_across_an_archive_boundary():
    """docs/audit.md §8: events up to a checkpoint are exported and removed by the owner
    role; `verify --from` starts at that checkpoint's compact range and still catches
    tampering with the first live event."""
    make_events(30)
    checkpoint_create()
    make_events(10)
    checkpoint_create()
    tamper("DELETE FROM audit_auditevent WHERE seq <= %s", [30])  # the archived month
    report = verify_log(from_seq=31)
    assert report.ok, report.problem
    assert report.start_seq == 31 and report.events == 10
    tamper("UPDATE audit_auditevent SET reason = %s WHERE seq = %s", ["forged", 31])
    assert not verify_log(from_seq=31).ok
