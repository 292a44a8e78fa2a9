"""Fixtures for the web UI tests: one hospital per test, built through the services.

Personas: the requester (owner), desk staff who work the queue (agent, phi_agent,
lead), the outsider (an agent who is not a member of the restricted queue) and an
agent of another hospital.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from django.test import Client

from phidesk.core.actor import Actor
from phidesk.core.tenant_context import tenant_context
from phidesk.identity.services import actor_for_user, queue_membership_set, user_provision
from phidesk.tickets import services

PASSWORD = "web-tests-correct-horse-42"

MRN = "00123456"
PATIENT_NAME = "Maria Jones"
DOB = "1948-03-14"
PATIENT = {"patient_mrn": MRN, "patient_name": PATIENT_NAME, "patient_dob": DOB}
CLEAR_PHI = (MRN, PATIENT_NAME, DOB, "Jones", "1948")

PEOPLE: dict[str, tuple[str, list[str]]] = {
    "requester": ("Riley Park", ["requester"]),
    "requester2": ("Jordan Vale", ["requester"]),
    "agent": ("Sam Agent", ["agent"]),
    "phi_agent": ("Priya Shah", ["phi_agent"]),
    "lead": ("Lee Morgan", ["queue_lead", "agent"]),
    "outsider": ("Olly Outside", ["agent"]),
    "privacy": ("Pat Quinn", ["privacy_officer"]),
    "admin": ("Dana Admin", ["admin"]),
}


@dataclass
class Hospital:
    org: Any
    general: Any
    restricted: Any
    users: dict[str, Any] = field(default_factory=dict)

    def actor(self, who: str) -> Actor:
        return actor_for_user(self.users[who], ip="127.0.0.1", user_agent="web tests")

    def file(self, who: str = "requester", *, restricted: bool = False, **data: Any) -> str:
        """File a ticket through the service as `who`; returns its key (HD-000001)."""
        data.setdefault("title", "Label printer in 4 West is down")
        queue = self.restricted.slug if restricted else self.general.slug
        detail = services.ticket_create(
            actor=self.actor(who), data=services.NewTicket(queue=queue, **data)
        )
        return detail.row.key

    def email(self, who: str) -> str:
        return str(self.users[who].email)


def build_hospital(slug: str, name: str) -> Hospital:
    # Organizations and queues have no service yet, so the fixture makes the rows itself.
    # It looks the models up by label: phidesk.web (tests included) imports no models.
    organization_model = apps.get_model("tenancy", "Organization")
    queue_model = apps.get_model("tickets", "Queue")
    org = organization_model.objects.create(slug=slug, name=name, ticket_prefix="HD")
    with tenant_context(org.pk):
        general = queue_model.objects.create(
            organization=org, slug="it-general", name="General IT", description="Printers."
        )
        restricted = queue_model.objects.create(
            organization=org,
            slug="ehr-phi",
            name="EHR & patient records",
            description="Patient charts. EHR team only.",
            restricted_phi=True,
        )
    hospital = Hospital(org=org, general=general, restricted=restricted)
    for who, (display, roles) in PEOPLE.items():
        hospital.users[who] = user_provision(
            organization_id=org.pk,
            email=f"{who.replace('_', '.')}@{slug}.example",
            display_name=display,
            roles=roles,
            password=PASSWORD,
        )
    members = (
        ("agent", general, False),
        ("phi_agent", restricted, False),
        ("lead", restricted, True),
        ("outsider", general, False),
    )
    for who, queue, lead in members:
        queue_membership_set(
            organization_id=org.pk, user=hospital.users[who], queue_id=queue.pk, is_lead=lead
        )
    return hospital


@pytest.fixture
def site(db: None) -> Hospital:
    return build_hospital("stmarys", "St. Mary's Regional Hospital")


@pytest.fixture
def other_site(db: None) -> Hospital:
    return build_hospital("lakeside", "Lakeside Health System")


@pytest.fixture
def client_for() -> Callable[[Hospital, str], Client]:
    """A test client signed in as one persona."""

    def make(hospital: Hospital, who: str) -> Client:
        client = Client()
        client.force_login(hospital.users[who])
        return client

    return make


HTMX = {"HTTP_HX_REQUEST": "true"}


# --- Browser tests (Playwright driving Debian's chromium) ---------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class _SerializedStaticFilesHandler:
    """Static files plus the app, one request at a time: the requests share one connection."""

    def __init__(self, application: Any) -> None:
        from django.contrib.staticfiles.handlers import StaticFilesHandler

        self.handler = StaticFilesHandler(application)
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self.lock:
            return self.handler(environ, start_response)


@pytest.fixture
def web_server(db: None) -> Iterator[str]:
    """A live HTTP server that runs on this test's own database connection; its base URL.

    pytest-django's `live_server` needs a transactional database that is flushed after
    each test, and the audit tables refuse DELETE and TRUNCATE by design (invariant 2).
    Here the server thread borrows the test's connection instead: it sees the rows the
    test made, commits nothing (every service's atomic block is a savepoint inside the
    test's transaction, so no after-commit work runs), and the test's rollback undoes
    everything, audit events included. Works the same on SQLite and PostgreSQL.
    """
    from django.db import connections
    from django.test.testcases import LiveServerThread

    shared = {conn.alias: conn for conn in connections.all()}
    for conn in shared.values():
        conn.inc_thread_sharing()
        # The server closes connections after each request and on shutdown; this one
        # belongs to the test, which rolls it back.
        conn.close = lambda: None  # type: ignore[method-assign]
    thread = LiveServerThread(
        "127.0.0.1", _SerializedStaticFilesHandler, connections_override=shared, port=0
    )
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    try:
        if thread.error:
            raise thread.error
        yield f"http://127.0.0.1:{thread.port}"
    finally:
        thread.terminate()
        for conn in shared.values():
            del conn.close
            conn.dec_thread_sharing()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One chromium per test module; each test opens its own context (cookies)."""
    # Playwright's sync API runs an event loop in this thread; fixtures still use the ORM.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open a fresh page (own cookie jar); pages collect console errors in `.errors`."""
    contexts: list[Any] = []

    def make(width: int = 1280, height: int = 900, *, bypass_csp: bool = False) -> Any:
        # bypass_csp lets a test inject a checker (axe-core); the pages never need it.
        context = browser.new_context(
            viewport={"width": width, "height": height}, bypass_csp=bypass_csp
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: (
                page.errors.append(msg.text)
                if msg.type == "error" and "status of 4" not in msg.text
                else None
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Any, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Sign in through the real form, as a person would."""
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Work email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/accounts/login/" not in page.url, "sign-in failed"


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")
