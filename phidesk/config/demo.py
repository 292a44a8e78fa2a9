"""The demo: two hospitals, one person per role in each, queues and realistic tickets.

Idempotent: running it again changes nothing. The demo password is generated on
first run and kept in var/demo-credentials (mode 0600), never in the code.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from phidesk.access.roles import Role
from phidesk.core.tenant_context import tenant_context
from phidesk.identity.models import User
from phidesk.identity.services import actor_for_user, queue_membership_set, user_provision
from phidesk.tenancy.models import Organization
from phidesk.tickets import services
from phidesk.tickets.models import Queue, Ticket


@dataclass(frozen=True)
class DemoTenant:
    slug: str
    name: str
    domain: str


TENANTS = (
    DemoTenant("st-marys", "St. Mary's Regional Hospital", "stmarys.example"),
    DemoTenant("lakeside", "Lakeside Health System", "lakeside.example"),
)

PEOPLE = (
    ("requester", "Nurse Riley Park", [Role.REQUESTER]),
    ("agent", "Sam Agent (Service Desk)", [Role.AGENT]),
    ("phi.agent", "Priya Shah (EHR Analyst)", [Role.PHI_AGENT]),
    ("lead", "Lee Morgan (EHR Team Lead)", [Role.QUEUE_LEAD, Role.AGENT]),
    ("responder", "Ines Cole (Security)", [Role.INCIDENT_RESPONDER]),
    ("privacy", "Pat Quinn (Privacy Officer)", [Role.PRIVACY_OFFICER]),
    ("auditor", "Alex Reed (Auditor)", [Role.AUDITOR]),
    ("admin", "Dana Admin (IT Admin)", [Role.ADMIN]),
)

QUEUES = (
    ("it-general", "General IT", "Hardware, printers, accounts, network.", False),
    (
        "ehr-phi",
        "EHR & patient records",
        "Problems that involve a patient's chart. Restricted to the EHR team.",
        True,
    ),
)

# (queue, title, description, category, priority, mrn, name, dob, requester local part)
TICKETS = (
    (
        "it-general",
        "Label printer in 4 West is down",
        "The Zebra label printer at the 4 West nurses' station shows a red light and prints "
        "nothing. Specimen labels are going to 4 East for now.",
        "printing",
        "P2",
        "",
        "",
        "",
    ),
    (
        "ehr-phi",
        "Dr. Lee cannot open a patient's chart",
        "Dr. Lee gets 'access denied' when opening the chart of a patient admitted overnight "
        "to 5 North. Other charts open fine.",
        "ehr_access",
        "P1",
        "00123456",
        "Maria Jones",
        "1948-03-14",
    ),
    (
        "it-general",
        "Wi-Fi drops in the ED waiting room",
        "Guest Wi-Fi disconnects every few minutes near bays 1-4.",
        "network",
        "P3",
        "",
        "",
        "",
    ),
    (
        "ehr-phi",
        "Medication list shows duplicate entries",
        "Two identical lisinopril orders appear on the MAR for one patient; pharmacy confirms "
        "only one is active.",
        "ehr_issue",
        "P2",
        "00987654",
        "Robert Chen",
        "1962-11-02",
    ),
    (
        "it-general",
        "Password reset for new resident",
        "New PGY-1 resident starting Monday cannot sign in to the workstation.",
        "account",
        "P3",
        "",
        "",
        "",
    ),
    (
        "ehr-phi",
        "Lab result routed to wrong provider inbox",
        "A potassium result landed in Dr. Patel's inbox instead of the ordering provider's.",
        "ehr_issue",
        "P2",
        "00456789",
        "Aisha Rahman",
        "1990-07-21",
    ),
    (
        "it-general",
        "Badge reader at pharmacy door intermittent",
        "The reader needs several taps before it unlocks.",
        "hardware",
        "P4",
        "",
        "",
        "",
    ),
    (
        "ehr-phi",
        "Allergy banner missing on chart",
        "The allergy banner does not show for one patient even though allergies are recorded.",
        "ehr_issue",
        "P1",
        "00345678",
        "George Miller",
        "1955-01-30",
    ),
    (
        "it-general",
        "Dictation software crashes on launch",
        "Dragon crashes right after the splash screen on the radiology reading room PC.",
        "software",
        "P3",
        "",
        "",
        "",
    ),
    (
        "it-general",
        "Monitor flickers at nurses' station 3B",
        "Second monitor flickers.",
        "hardware",
        "P4",
        "",
        "",
        "",
    ),
)


def credentials_path() -> Path:
    return Path(settings.VAR_DIR) / "demo-credentials"


def demo_password() -> str:
    path = credentials_path()
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = "Demo-" + secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password)
    return password


def _seed_tenant(spec: DemoTenant, password: str) -> tuple[Organization, bool]:
    org, _ = Organization.objects.get_or_create(
        slug=spec.slug, defaults={"name": spec.name, "ticket_prefix": "HD"}
    )
    users: dict[str, User] = {}
    for local, display, roles in PEOPLE:
        users[local] = user_provision(
            organization_id=org.pk,
            email=f"{local}@{spec.domain}",
            display_name=display,
            roles=[r.value for r in roles],
            password=password,
        )
    with tenant_context(org.pk):
        queues = {}
        for slug, name, description, restricted in QUEUES:
            queues[slug], _ = Queue.objects.get_or_create(
                organization=org,
                slug=slug,
                defaults={"name": name, "description": description, "restricted_phi": restricted},
            )
        queue_membership_set(
            organization_id=org.pk, user=users["agent"], queue_id=queues["it-general"].pk
        )
        queue_membership_set(
            organization_id=org.pk, user=users["phi.agent"], queue_id=queues["ehr-phi"].pk
        )
        queue_membership_set(
            organization_id=org.pk, user=users["lead"], queue_id=queues["ehr-phi"].pk, is_lead=True
        )
        if Ticket.objects.exists():
            return org, False
    requester = actor_for_user(users["requester"], ip="127.0.0.1", user_agent="phidesk demo")
    agent = actor_for_user(users["agent"], ip="127.0.0.1", user_agent="phidesk demo")
    for i, (queue, title, description, category, priority, mrn, name, dob) in enumerate(TICKETS):
        detail = services.ticket_create(
            actor=requester,
            data=services.NewTicket(
                queue=queue,
                title=title,
                description=description,
                category=category,
                priority=priority,
                patient_mrn=mrn,
                patient_name=name,
                patient_dob=dob,
            ),
        )
        if queue == "it-general" and i % 3 == 0:
            services.ticket_assign(actor=agent, key=detail.row.key, assignee_id=users["agent"].pk)
            services.message_create(
                actor=agent,
                key=detail.row.key,
                body="Thanks, I'm on my way to take a look.",
            )
    return org, True


@transaction.atomic
def seed_demo() -> tuple[str, list[tuple[str, bool]]]:
    password = demo_password()
    results = []
    for spec in TENANTS:
        org, created = _seed_tenant(spec, password)
        results.append((org.slug, created))
    return password, results
