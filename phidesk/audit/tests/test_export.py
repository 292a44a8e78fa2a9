"""Bundles verify offline with only the standard library and `cryptography`."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from phidesk.audit import signing
from phidesk.audit import standalone_verify as sv
from phidesk.audit.checkpoints import checkpoint_create
from phidesk.audit.export import export_bundle
from phidesk.audit.models import Checkpoint
from phidesk.audit.tests.conftest import make_events

pytestmark = pytest.mark.django_db


def bundle(**kw) -> list[str]:
    out = io.StringIO()
    export_bundle(out=out, **kw)
    return out.getvalue().splitlines(keepends=True)


def check(lines: list[str]) -> sv.BundleReport:
    return sv.verify_bundle(lines, sv.VerifierKey.parse(signing.public_key_text()))


@pytest.mark.parametrize(("start", "end"), [(1, 700), (1, 1), (300, 300), (257, 650), (2, 699)])
def test_any_range_verifies(start: int, end: int):
    make_events(400)
    checkpoint_create()
    make_events(300)
    checkpoint_create()
    make_events(5)
    report = check(bundle(from_seq=start, to_seq=end))
    assert report.ok, report.problem
    assert (report.first_seq, report.last_seq, report.events) == (start, end, end - start + 1)
    assert report.checkpoints[-1] >= end


def test_an_uncovered_range_gets_a_checkpoint_first():
    make_events(10)
    lines = bundle(from_seq=3, to_seq=10)
    assert Checkpoint.objects.filter(tree_size__gte=10).exists()
    assert check(lines).ok


def edit_event(lines: list[str], seq: int, **changes) -> list[str]:
    out = []
    for line in lines:
        data = json.loads(line)
        if data.get("type") == "event" and data["seq"] == seq:
            data.update(changes)
            line = json.dumps(data) + "\n"
        out.append(line)
    return out


def test_tampered_bundles_fail_and_name_the_event():
    make_events(50)
    lines = bundle(from_seq=10, to_seq=40)
    changed = check(edit_event(lines, 20, reason="edited"))
    assert not changed.ok and changed.problem_seq == 20 and "changed" in changed.problem
    dropped = [ln for ln in lines if '"seq":25,' not in ln]
    missing = check(dropped)
    assert not missing.ok and missing.problem_seq == 25 and "missing" in missing.problem
    # A forger who re-hashes the event still cannot match the signed root.
    body = json.loads(next(ln for ln in lines if '"seq":40,' in ln))
    body["reason"] = "edited"
    body["hash"] = sv.chain_hash(sv.canonical_json(body))
    rehashed = check([json.dumps(body) + "\n" if '"seq":40,' in ln else ln for ln in lines])
    assert not rehashed.ok and "do not match signed checkpoint" in rehashed.problem
    cut = check(lines[:-3])
    assert not cut.ok


def test_a_bundle_for_another_key_is_refused():
    make_events(5)
    lines = bundle()
    other = sv.parse_signer_key(sv.signer_key("phidesk.local/audit", os.urandom(32)))[1]
    stranger = sv.VerifierKey.parse(
        sv.verifier_key("phidesk.local/audit", other.public_key().public_bytes_raw())
    )
    report = sv.verify_bundle(lines, stranger)
    assert not report.ok and "different signing key" in report.problem


def test_the_standalone_file_runs_without_django(tmp_path: Path):
    make_events(30)
    checkpoint_create()
    out = tmp_path / "bundle.jsonl"
    call_command("audit", "export", "--from", "5", "--to", "25", "--out", str(out), "--quiet",
                 stdout=io.StringIO())  # fmt: skip
    key = tmp_path / "key.pub"
    key.write_text(signing.public_key_text())
    script = tmp_path / "standalone_verify.py"
    shutil.copy(sv.__file__, script)
    probe = "import sys, runpy; sys.argv = sys.argv[1:]; "
    probe += "runpy.run_path(sys.argv[0], run_name='__main__')"
    guard = "import sys; sys.modules['django'] = None; " + probe  # any Django import would fail
    run = [sys.executable, "-I", "-c", guard, str(script), str(out), "--public-key", str(key)]
    done = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr + done.stdout
    assert done.stdout.startswith("OK: 21 events #5..#25 verified")
    out.write_text(out.read_text().replace('"reason":""', '"reason":"edited"', 1))
    done = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode == 1 and done.stdout.startswith("FAIL: event #5 was changed")


def test_export_refuses_to_overwrite_and_bad_ranges(tmp_path: Path):
    make_events(3)
    out = tmp_path / "b.jsonl"
    out.write_text("keep me")
    with pytest.raises(CommandError, match="exists"):
        call_command("audit", "export", "--out", str(out), "--quiet")
    assert out.read_text() == "keep me"
    with pytest.raises(CommandError, match="within #1"):
        call_command("audit", "export", "--from", "5", "--out", str(tmp_path / "c"), "--quiet")
