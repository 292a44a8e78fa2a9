"""`phidesk audit export`: a JSONL bundle an auditor verifies offline.

Lines, in order: a header (format, origin, range, the public key), the signed
checkpoints that fall inside or just after the range, the compact range of the events
before it ("left"), the events, the compact range of the events after it up to the
covering checkpoint ("right"), and an end marker. `standalone_verify.py` rebuilds the
covering checkpoint's root from these alone, so no trust in this system is needed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from django.db.models import Max

from phidesk.audit import conf
from phidesk.audit.checkpoints import checkpoint_create
from phidesk.audit.merkle import compact_range
from phidesk.audit.models import AuditEvent, Checkpoint
from phidesk.audit.services import record
from phidesk.audit.signing import public_key_text
from phidesk.audit.standalone_verify import BUNDLE_FORMAT
from phidesk.audit.stream import rows
from phidesk.core.errors import InvalidInput


@dataclass(frozen=True)
class ExportSummary:
    from_seq: int
    to_seq: int
    tree_size: int
    events: int
    checkpoints: int


def _line(data: dict[str, object]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n"


def export_bundle(
    *,
    out: TextIO,
    from_seq: int = 1,
    to_seq: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExportSummary:
    """Write events from_seq..to_seq and their proof material to `out`."""
    newest = AuditEvent.objects.aggregate(m=Max("seq"))["m"] or 0
    to_seq = newest if to_seq is None else to_seq
    if not 1 <= from_seq <= to_seq <= newest:
        raise InvalidInput(f"the range must lie within #1..#{newest}", field="from")
    record(
        actor=None,
        action="audit.bundle_export",
        resource_type="audit",
        reason="operator CLI",
        detail={"from_seq": from_seq, "to_seq": to_seq},
    )
    covering = Checkpoint.objects.filter(tree_size__gte=to_seq).order_by("tree_size").first()
    if covering is None:
        covering = checkpoint_create(trigger="export")
    if covering is None:
        raise InvalidInput("no checkpoint can cover the range; run `phidesk audit verify`")
    size = covering.tree_size
    included = Checkpoint.objects.filter(tree_size__gte=from_seq - 1, tree_size__lte=to_seq)
    notes = [(cp.tree_size, cp.note) for cp in included.order_by("tree_size")]
    if not notes or notes[-1][0] != size:
        notes.append((size, covering.note))
    out.write(
        _line(
            {
                "type": "header",
                "format": BUNDLE_FORMAT,
                "origin": conf.origin(),
                "public_key": public_key_text(),
                "from_seq": from_seq,
                "to_seq": to_seq,
                "tree_size": size,
                "exported_at": dt.datetime.now(dt.UTC).isoformat(),
            }
        )
    )
    for tree_size, note in notes:
        out.write(_line({"type": "checkpoint", "tree_size": tree_size, "note": note}))
    left = compact_range(0, from_seq - 1)
    out.write(_line({"type": "left", "size": from_seq - 1, "hashes": [h.hex() for _, h in left]}))
    count = 0
    for row in rows(start=from_seq, end=to_seq):
        # The canonical bytes are already the event's JSON: add the hash and the line type.
        out.write(f'{{"type":"event","hash":"{row.hash}",{row.canonical.decode()[1:]}\n')
        count += 1
        if progress is not None and count % 10_000 == 0:
            progress(count)
    right = compact_range(to_seq, size)
    out.write(
        _line(
            {
                "type": "right",
                "start": to_seq,
                "heights": [height for height, _ in right],
                "hashes": [h.hex() for _, h in right],
            }
        )
    )
    out.write(_line({"type": "end", "events": count}))
    if progress is not None:
        progress(count)
    return ExportSummary(from_seq, to_seq, size, count, len(notes))
