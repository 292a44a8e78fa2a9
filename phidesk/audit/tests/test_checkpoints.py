"""Signed checkpoints, the WORM store, the signing key, cadence and inclusion proofs."""

from __future__ import annotations

import os
import stat
import time

import pytest

from phidesk.audit import checkpoints, conf, signing, worm
from phidesk.audit.checkpoints import ChainBroken, checkpoint_create, is_due
from phidesk.audit.merkle import ProofUnavailable, compact_range, inclusion_proof
from phidesk.audit.models import Checkpoint, MerkleTile
from phidesk.audit.standalone_verify import (
    CompactRange,
    VerifierKey,
    leaf_hash,
    merkle_root,
    open_checkpoint,
)
from phidesk.audit.stream import rows
from phidesk.audit.tests.conftest import make_events, tamper

pytestmark = pytest.mark.django_db


def all_leaves() -> list[bytes]:
    return [leaf_hash(r.canonical) for r in rows()]


def trusted() -> list[VerifierKey]:
    return [VerifierKey.parse(signing.public_key_text())]


def test_a_checkpoint_signs_the_merkle_root_of_every_event():
    make_events(37)
    cp = checkpoint_create()
    assert cp is not None and cp.tree_size == 37
    body = open_checkpoint(cp.note, trusted())
    assert body.origin == conf.origin() == "phidesk.local/audit"
    assert body.root_hash == merkle_root(all_leaves())
    assert cp.note.splitlines()[1] == "37"
    assert checkpoint_create() is None  # nothing new to sign


def test_the_next_checkpoint_extends_the_last_one():
    make_events(300)
    checkpoint_create()
    make_events(333)
    cp = checkpoint_create()
    assert cp.tree_size == 633
    assert open_checkpoint(cp.note, trusted()).root_hash == merkle_root(all_leaves())
    stored = CompactRange.from_hashes(633, [bytes.fromhex(h) for h in cp.frontier])
    assert stored.root().hex() == cp.root_hash
    tiles = dict(MerkleTile.objects.filter(level=8).values_list("index", "hash"))
    leaves = all_leaves()
    assert tiles == {0: merkle_root(leaves[:256]).hex(), 1: merkle_root(leaves[256:512]).hex()}


def test_checkpoints_go_to_the_worm_directory_read_only(audit_env):
    make_events(3)
    cp = checkpoint_create()
    stored = list(worm.store().checkpoints())
    assert [(size, note) for size, note, _ in stored] == [(3, cp.note)]
    path = stored[0][2]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o444
    assert path.startswith(str(audit_env / "worm" / cp.signed_at.strftime("%Y-%m")))


def test_the_worm_store_never_overwrites(tmp_path):
    store = worm.WormDirectory(tmp_path / "w")
    assert store.put("a.note", b"one") is True
    assert store.put("a.note", b"one") is False  # a retry of the same bytes is fine
    with pytest.raises(worm.WormConflict):
        store.put("a.note", b"two")
    assert (tmp_path / "w" / "a.note").read_bytes() == b"one"


def test_the_signing_key_is_made_once_with_mode_0600(audit_env):
    first = signing.public_key_text()
    key_file = audit_env / "audit-signing.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().startswith("PRIVATE+KEY+phidesk.local/audit+")
    signing.reset_cache()
    assert signing.public_key_text() == first


def test_a_key_file_others_can_read_is_refused(audit_env):
    signing.public_key_text()
    (audit_env / "audit-signing.key").chmod(0o644)
    signing.reset_cache()
    with pytest.raises(PermissionError):
        signing.public_key_text()


def test_nothing_is_signed_over_a_broken_chain():
    make_events(10)
    tamper("UPDATE audit_auditevent SET reason = 'edited' WHERE seq = 4")
    with pytest.raises(ChainBroken, match="event #4"):
        checkpoint_create()
    assert not Checkpoint.objects.exists()


def test_due_after_the_event_limit_or_the_time_limit(settings, monkeypatch):
    settings.PHIDESK_AUDIT_CHECKPOINT_EVENTS = 5
    make_events(1)
    assert is_due(1)  # no checkpoint yet: the first event is due at once
    checkpoint_create()
    checkpoints.reset_state()
    assert not is_due(2)
    assert is_due(6)
    later = time.time() + 61
    monkeypatch.setattr(checkpoints.time, "time", lambda: later)
    assert is_due(2)
    assert not is_due(1)  # nothing uncovered


def test_inline_mode_checkpoints_after_commit(settings, django_capture_on_commit_callbacks):
    settings.PHIDESK_AUDIT_CHECKPOINT_MODE = "inline"
    settings.PHIDESK_AUDIT_CHECKPOINT_EVENTS = 4
    with django_capture_on_commit_callbacks(execute=True):
        make_events(1)
    assert Checkpoint.objects.get().tree_size == 1
    with django_capture_on_commit_callbacks(execute=True):
        make_events(3)
    assert Checkpoint.objects.count() == 1  # 3 new events: not due yet
    with django_capture_on_commit_callbacks(execute=True):
        make_events(1)
    assert list(Checkpoint.objects.values_list("tree_size", flat=True)) == [1, 5]


def test_no_checkpoint_work_is_scheduled_when_off(settings, django_capture_on_commit_callbacks):
    settings.PHIDESK_AUDIT_CHECKPOINT_MODE = "off"
    with django_capture_on_commit_callbacks() as callbacks:
        make_events(3)
    assert callbacks == []


def test_the_background_worker_tick_signs_and_sets_its_deadline(settings):
    worker = checkpoints._Worker()
    make_events(3)
    worker._tick()
    assert Checkpoint.objects.get().tree_size == 3 and worker.deadline is None
    make_events(2)
    worker._tick()  # not due: 2 events, signed a moment ago
    assert Checkpoint.objects.count() == 1
    assert worker.deadline is not None and worker.deadline > time.time() + 50


@pytest.mark.parametrize("seq", [1, 2, 255, 256, 257, 511, 600, 700])
def test_inclusion_proofs_from_the_database_verify(seq: int):
    make_events(700)
    cp = checkpoint_create()
    root = open_checkpoint(cp.note, trusted()).root_hash
    proof = inclusion_proof(seq=seq)
    assert proof.tree_size == 700 and proof.verify(root)
    assert len(proof.path) <= 10  # ceil(log2(700))


def test_a_proof_fails_for_a_changed_event_and_is_refused_past_the_checkpoint():
    make_events(300)
    cp = checkpoint_create()
    root = open_checkpoint(cp.note, trusted()).root_hash
    tamper("UPDATE audit_auditevent SET reason = 'edited' WHERE seq = 100")
    assert not inclusion_proof(seq=100).verify(root)
    # Events proven with the tile stored at signing time are unaffected by the change.
    assert inclusion_proof(seq=290).verify(root)
    make_events(1)
    with pytest.raises(ProofUnavailable):
        inclusion_proof(seq=301)


def test_proofs_still_work_without_tiles():
    make_events(600)
    checkpoint_create()
    tamper("DELETE FROM audit_merkletile")
    cp = Checkpoint.objects.get()
    assert inclusion_proof(seq=3).verify(bytes.fromhex(cp.root_hash))
    heights = [h for h, _ in compact_range(0, 600)]
    assert heights == [9, 6, 4, 3]
