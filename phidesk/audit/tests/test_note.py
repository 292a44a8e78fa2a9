"""C2SP signed notes: byte-for-byte compatible with Go's golang.org/x/mod/sumdb/note."""

from __future__ import annotations

import base64

import pytest

from phidesk.audit.standalone_verify import (
    CheckpointBody,
    NoteError,
    VerifierKey,
    open_checkpoint,
    open_note,
    parse_signer_key,
    sign_note,
    signer_key,
    verifier_key,
)

# The example of golang.org/x/mod/sumdb/note (Ed25519 is deterministic, so signing the
# same text with the same key must give the very same note).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def go_signer():
    name, private = parse_signer_key(GO_SKEY)
    return name, private, private.public_key().public_bytes_raw()


def test_signing_reproduces_the_go_example_exactly():
    name, private, public = go_signer()
    assert verifier_key(name, public) == GO_VKEY
    assert sign_note(GO_TEXT, name, private.sign, public) == GO_NOTE


def test_the_go_example_opens_with_its_key_and_not_when_changed():
    key = VerifierKey.parse(GO_VKEY)
    text, signed_by = open_note(GO_NOTE, [key])
    assert text == GO_TEXT and signed_by == key
    with pytest.raises(NoteError, match="bad signature"):
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), [key])


def test_a_note_from_another_key_is_refused():
    other_name, other = "phidesk.test/audit", parse_signer_key(signer_key("x", bytes(32)))[1]
    note = sign_note(GO_TEXT, other_name, other.sign, other.public_key().public_bytes_raw())
    with pytest.raises(NoteError, match="no signature from a trusted key"):
        open_note(note, [VerifierKey.parse(GO_VKEY)])


@pytest.mark.parametrize(
    "bad",
    [
        GO_VKEY.replace("c74f20a3", "c74f20a4"),  # hash does not match
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a3+" + base64.b64encode(b"\x02" + bytes(32)).decode(),
    ],
)
def test_malformed_verifier_keys_are_refused(bad: str):
    with pytest.raises(NoteError):
        VerifierKey.parse(bad)


def test_checkpoint_body_round_trips_and_rejects_junk():
    body = CheckpointBody("example.com/log", 20852163, bytes(range(32)))
    assert CheckpointBody.parse(body.text()) == body
    for junk in ["example.com/log\n012\nAAAA\n", "example.com/log\n5\n", "o\n5\n!!\n"]:
        with pytest.raises(NoteError):
            CheckpointBody.parse(junk)


def test_checkpoint_signed_and_opened():
    name, private, public = go_signer()
    body = CheckpointBody(name, 7, bytes(32))
    note = sign_note(body.text(), name, private.sign, public)
    assert open_checkpoint(note, [VerifierKey.parse(GO_VKEY)]) == body
    swapped = note.replace("\n7\n", "\n8\n")
    with pytest.raises(NoteError):
        open_checkpoint(swapped, [VerifierKey.parse(GO_VKEY)])
