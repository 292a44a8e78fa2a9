"""Saved audit searches and scheduled reports: the commands that change them, and sending.

Kept beside `services.py` rather than in it because they build on the search selectors,
which themselves import `services.record`.

Saved searches belong to one person: every read and write is scoped to the actor's
organization *and* user id, so anyone else (another privacy officer, another tenant)
gets 404. A patient filter is never saved — neither the MRN nor its blind index: a
saved search would otherwise keep, and a schedule would keep re-running, a standing
watch on one patient. Saving one is refused (`InvalidInput`, field `patient`).

A scheduled report is a notice, not a report body: the email says only that the report
is ready, how many events matched in the period, and links to the search page with the
saved search applied (`?saved=<id>`). The link is useless to anyone but the owner, who
must sign in. Recipients: the owner only, and only while the access policy still lets
them read the audit trail (checked at send time through PHIDESK_AUDIT_AUTHORIZER).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils.module_loading import import_string

from phidesk.audit import conf
from phidesk.audit.models import Outcome, SavedAuditSearch, Schedule
from phidesk.audit.selectors import (
    EventFilter,
    SavedSearch,
    audit_authorize,
    audit_decision,
    event_queryset,
    own_saved_searches,
    parse_filters,
    saved_search_row,
)
from phidesk.audit.services import record
from phidesk.core import clock
from phidesk.core.actor import Actor
from phidesk.core.errors import Conflict, InvalidInput, NotFound

log = logging.getLogger(__name__)

NAME_MAX = 80
RESOURCE = "audit_saved_search"
# The name travels in email subjects: refuse what looks like a record number or an address.
_DIGIT_RUN = re.compile(r"\d{5,}")


def _clean_name(raw: str) -> str:
    name = " ".join((raw or "").split())
    if not name:
        raise InvalidInput("give the search a name", field="name")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"a name is at most {NAME_MAX} characters", field="name")
    if not name.isprintable():
        raise InvalidInput("the name contains control characters", field="name")
    if _DIGIT_RUN.search(name) or "@" in name:
        raise InvalidInput(
            "the name is sent in email notices: describe the search, never a patient "
            "(no record numbers or addresses)",
            field="name",
        )
    return name


def _stored_filters(filters: EventFilter | Mapping[str, str]) -> tuple[EventFilter, dict[str, str]]:
    """Validated filters and the text form to store; a patient filter is refused."""
    parsed = parse_filters(filters)
    if parsed.patient is not None:
        raise InvalidInput(
            "searches for a patient cannot be saved or scheduled; run them when needed",
            field="patient",
        )
    stored = parsed.query()
    # What is stored must read back as the same (valid) filter.
    parse_filters(stored)
    return parsed, stored


@transaction.atomic
def saved_search_create(
    *,
    actor: Actor,
    name: str,
    filters: EventFilter | Mapping[str, str],
    schedule: str = Schedule.NONE,
) -> SavedSearch:
    """Save the actor's current filters under a name (unique per owner); audited."""
    audit_authorize(actor, "audit.saved_search")
    clean = _clean_name(name)
    parsed, stored = _stored_filters(filters)
    if schedule not in Schedule.values:
        raise InvalidInput("schedule must be none, daily or weekly", field="schedule")
    if own_saved_searches(actor).filter(name=clean).exists():
        raise Conflict("you already have a saved search with this name", code="duplicate_name")
    try:
        with transaction.atomic():
            row = SavedAuditSearch.objects.create(
                organization_id=actor.organization_id,
                owner_user_id=actor.user_id,
                name=clean,
                filters=stored,
                schedule=schedule,
                created_at=clock.now(),
            )
    except IntegrityError as exc:  # a concurrent save under the same name
        raise Conflict(
            "you already have a saved search with this name", code="duplicate_name"
        ) from exc
    record(
        actor=actor,
        action="audit.saved_search.create",
        resource_type=RESOURCE,
        resource_id=row.pk,
        detail={"filters": parsed.audit_detail(), "schedule": schedule},
    )
    return saved_search_row(row)


@transaction.atomic
def saved_search_delete(*, actor: Actor, saved_id: int) -> None:
    """Delete one of the actor's own saved searches (and its schedule); audited."""
    audit_authorize(actor, "audit.saved_search")
    deleted, _ = own_saved_searches(actor).filter(pk=saved_id).delete()
    if not deleted:
        raise NotFound("Not found.")
    record(
        actor=actor,
        action="audit.saved_search.delete",
        resource_type=RESOURCE,
        resource_id=saved_id,
    )


# --- Scheduled reports ---------------------------------------------------------------


def report_period(*, schedule: str, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The last complete period before `now` (UTC): yesterday, or last Monday-to-Monday."""
    today = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if schedule == Schedule.DAILY:
        return today - dt.timedelta(days=1), today
    if schedule == Schedule.WEEKLY:
        monday = today - dt.timedelta(days=today.weekday())
        return monday - dt.timedelta(days=7), monday
    raise ValueError(f"no period for schedule {schedule!r}")


@dataclass
class ReportRun:
    sent: int = 0
    denied: int = 0
    failed: int = 0


@dataclass(frozen=True)
class _Notice:
    subject: str
    body: str


def report_link(*, saved_id: int) -> str:
    """The absolute link of a notice: the search page with the saved search applied."""
    return f"{conf.base_url()}{reverse('web:audit_search')}?saved={saved_id}"


def _notice(*, name: str, matched: int, start: dt.datetime, end: dt.datetime, link: str) -> _Notice:
    """The email: no event data at all, only a count, the period and a sign-in link."""
    fmt = "%Y-%m-%d %H:%M"
    events = "1 event" if matched == 1 else f"{matched:,} events"
    body = (
        f"Your scheduled audit report '{name}' is ready.\n\n"
        f"{events} matched its filters between {start.strftime(fmt)} and "
        f"{end.strftime(fmt)} UTC.\n\n"
        f"Sign in to see the results:\n{link}\n\n"
        "This notice carries no audit data. The link opens the search for you only, "
        "after you sign in.\n"
    )
    return _Notice(subject=f"Your scheduled audit report '{name}' is ready", body=body)


def _recipient(row: SavedAuditSearch) -> tuple[Actor | None, str, str]:
    """The owner as an actor with today's roles, the address, and why not if refused."""
    user: Any = get_user_model()._default_manager.filter(pk=row.owner_user_id).first()
    if user is None or not user.is_active:
        return None, "", "the owner is no longer an active user"
    if user.organization_id != row.organization_id:
        return None, "", "the owner belongs to another organization"
    try:
        actor: Actor = import_string(conf.report_actor_loader())(user)
    except Exception as exc:  # no actor, no email
        return None, "", f"cannot load the owner's roles: {type(exc).__name__}"
    allowed, reason = audit_decision(actor, "audit.view")
    if not allowed:
        return actor, "", reason
    return actor, str(user.email), ""


def _due(end: dt.datetime) -> Q:
    return Q(last_period_end__isnull=True) | Q(last_period_end__lt=end)


def _send_one(row: SavedAuditSearch, *, now: dt.datetime, run: ReportRun) -> None:
    start, end = report_period(schedule=row.schedule, now=now)
    # Claim the period first, so two runs at once cannot both send it.
    if not SavedAuditSearch.objects.filter(_due(end), pk=row.pk).update(last_period_end=end):
        return
    period = {"schedule": row.schedule, "period_start": start, "period_end": end}
    period_detail = {
        k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in period.items()
    }
    actor, address, refusal = _recipient(row)
    if actor is None or refusal:
        record(
            actor=actor,
            organization_id=row.organization_id,
            action="audit.report.send",
            resource_type=RESOURCE,
            resource_id=row.pk,
            outcome=Outcome.DENIED,
            reason=refusal,
            detail={**period_detail, "owner_user_id": row.owner_user_id},
        )
        run.denied += 1
        return
    try:
        saved = parse_filters(dict(row.filters)).effective()
    except InvalidInput:
        record(
            actor=actor,
            action="audit.report.send",
            resource_type=RESOURCE,
            resource_id=row.pk,
            outcome=Outcome.ERROR,
            reason="the saved filters are no longer valid",
            detail=period_detail,
        )
        run.failed += 1
        return
    window = replace(
        saved,
        since=max(saved.since, start) if saved.since else start,
        until=min(saved.until, end) if saved.until else end,
    )
    matched = event_queryset(actor, window).count()
    notice = _notice(
        name=row.name, matched=matched, start=start, end=end, link=report_link(saved_id=row.pk)
    )
    try:
        EmailMessage(subject=notice.subject, body=notice.body, to=[address]).send()
    except (OSError, smtplib.SMTPException) as exc:
        # Give the period back, so the next run tries again.
        SavedAuditSearch.objects.filter(pk=row.pk, last_period_end=end).update(
            last_period_end=row.last_period_end
        )
        log.warning("audit report %s not sent: %s", row.pk, type(exc).__name__)
        record(
            actor=actor,
            action="audit.report.send",
            resource_type=RESOURCE,
            resource_id=row.pk,
            outcome=Outcome.ERROR,
            reason=f"email not sent: {type(exc).__name__}",
            detail=period_detail,
        )
        run.failed += 1
        return
    with transaction.atomic():
        SavedAuditSearch.objects.filter(pk=row.pk).update(last_sent_at=now)
        record(
            actor=actor,
            action="audit.report.send",
            resource_type=RESOURCE,
            resource_id=row.pk,
            detail={**period_detail, "matched": matched},
        )
    run.sent += 1


def report_send_due(*, now: dt.datetime | None = None) -> ReportRun:
    """Send every scheduled report whose last complete period has not been handled yet.

    Each period is handled once: sent (audited `audit.report.send`, allowed), or refused
    because the owner may no longer read the trail (audited, denied). A failed email is
    audited as an error and retried by the next run.
    """
    moment = now or clock.now()
    run = ReportRun()
    scheduled = SavedAuditSearch.objects.exclude(schedule=Schedule.NONE).order_by("pk")
    for row in list(scheduled):
        _, end = report_period(schedule=row.schedule, now=moment)
        if row.last_period_end is not None and row.last_period_end >= end:
            continue
        _send_one(row, now=moment, run=run)
    return run
