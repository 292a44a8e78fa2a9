"""Presentation helpers for the web templates.

Pure functions over the plain data the selectors hand out: no queries, no model imports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince, timeuntil

register = template.Library()

FIELD_LABELS = {
    "title": "title",
    "description": "description",
    "category": "category",
    "priority": "priority",
    "due_at": "due date",
    "queue": "queue",
    "patient_mrn": "patient MRN",
    "patient_name": "patient name",
    "patient_dob": "patient date of birth",
}


def _relative(value: dt.datetime, now: dt.datetime) -> str:
    delta = (value - now).total_seconds()
    if abs(delta) < 60:
        return "just now"
    if delta < 0:
        return f"{timesince(value, now, depth=1)} ago"
    return f"in {timeuntil(value, now, depth=1)}"


@register.simple_tag
def when(value: dt.datetime | None, empty: str = "—") -> SafeString | str:
    """A humanized time ("3 hours ago") with the exact moment in `title` and `datetime`."""
    if not value:
        return empty
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    exact = local.strftime("%a %d %b %Y, %H:%M %Z").strip()
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        exact,
        _relative(value, timezone.now()),
    )


@register.filter
def label_for(value: str, choices: Iterable[tuple[str, str]]) -> str:
    """The human label of a choice value; the value itself when unknown."""
    for key, label in choices or ():
        if key == value:
            return str(label)
    return value


@register.filter
def field_labels(fields: Iterable[str] | None) -> str:
    names = [FIELD_LABELS.get(str(f), str(f).replace("_", " ")) for f in fields or ()]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


@register.filter
def initials(name: str) -> str:
    parts = [p for p in (name or "").replace("(", " ").split() if p[:1].isalpha()]
    return "".join(p[0] for p in parts[:2]).upper() or "?"


@register.filter
def open_total(queues: Iterable[tuple[Any, int]] | None) -> int:
    total = 0
    for _queue, count in queues or ():
        total += int(count)
    return total


@register.filter
def has_person(people: Iterable[Any] | None, user_id: int | None) -> bool:
    return user_id is not None and any(p.id == user_id for p in people or ())


@dataclass(frozen=True)
class Entry:
    type: str  # "message" or "event"
    at: dt.datetime
    item: Any


# Replies and notes are shown as the messages themselves, not as events.
_QUIET_EVENTS = frozenset({"replied", "noted"})


@register.simple_tag
def timeline(t: Any, show_reveals: bool = False) -> list[Entry]:
    """Messages and history events of one ticket, oldest first."""
    entries = [Entry("message", m.created_at, m) for m in t.messages]
    for e in t.events:
        if e.kind in _QUIET_EVENTS or e.kind == "created":
            continue
        if e.kind == "phi_revealed" and not show_reveals:
            continue
        entries.append(Entry("event", e.created_at, e))
    entries.sort(key=lambda entry: entry.at)
    return entries


@register.simple_tag
def reveal_reason(t: Any, actor: Any) -> str:
    """The reason the actor gave for their latest reveal of this ticket's patient."""
    user_id = getattr(actor, "user_id", None)
    for e in reversed(t.events):
        if e.kind == "phi_revealed" and e.actor and e.actor.id == user_id:
            return str(e.detail.get("reason", ""))
    return ""


@register.filter
def person_name(people: Iterable[Any] | None, user_id: object) -> str:
    """The name of the person with this id among `people`, or ""."""
    for p in people or ():
        if p.id == user_id:
            return str(p.name)
    return ""
