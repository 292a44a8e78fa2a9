"""End to end in a real browser: a nurse files a ticket about a patient's chart, the EHR
analyst finds it on the desk, and the patient stays masked until revealed on the record.
"""

from __future__ import annotations

import os
import re

import pytest

from phidesk.web.tests.conftest import MRN, Hospital, sign_in, sign_out

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

TITLE = "Dr. Lee cannot open a chart on 5 North"


def test_requester_files_a_ticket_and_the_phi_agent_finds_it_masked(
    web_server: str, site: Hospital, new_page
):
    from playwright.sync_api import expect

    base = web_server
    page = new_page()

    # The nurse signs in and lands on their own tickets.
    sign_in(page, base, site.email("requester"))
    expect(page).to_have_url(re.compile(r"/portal/$"))
    expect(page.get_by_role("heading", name="My tickets")).to_be_visible()

    # Files a ticket about a patient's chart, MRN in the protected section only.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New ticket").click()
    page.get_by_label("Team").select_option("ehr-phi")
    page.get_by_label("What kind of problem?").select_option("ehr_access")
    page.get_by_label("Short summary").fill(TITLE)
    page.get_by_label("Details").fill("Access denied on one chart; other charts open fine.")
    page.get_by_label("P2 - High").check()
    page.get_by_text("This is about a patient's record").click()
    page.get_by_label("MRN").fill(MRN)
    page.get_by_role("button", name="Submit ticket").click()

    expect(page).to_have_url(re.compile(r"/t/HD-000001/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(TITLE)
    expect(page.locator("#patient-panel")).to_contain_text("***3456")

    # It is in "My tickets".
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My tickets").click()
    expect(page.get_by_role("link", name=re.compile(re.escape(TITLE)))).to_be_visible()
    sign_out(page)

    # The EHR analyst works the restricted queue and sees it there.
    sign_in(page, base, site.email("phi_agent"))
    expect(page).to_have_url(re.compile(r"/desk/$"))
    queues = page.get_by_role("navigation", name="Queues")
    queues.get_by_role("link", name=re.compile("EHR & patient records")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("EHR & patient records")
    row = page.locator("tr.ticket-row", has_text=TITLE)
    expect(row).to_contain_text("Patient record")
    expect(row).to_contain_text("Riley Park")

    # On the ticket page the MRN is masked and its clear value is nowhere in the page.
    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/t/HD-000001/$"))
    panel = page.locator("#patient-panel")
    expect(panel).to_contain_text("***3456")
    assert MRN not in page.content()

    # Revealing it takes a stated reason and says that the access is recorded.
    panel.get_by_text("Reveal patient details").click()
    panel.get_by_label("Why do you need the patient details?").fill(
        "Checking the chart access error for Dr. Lee"
    )
    panel.get_by_role("button", name="Reveal and record").click()
    expect(page.locator("#patient-panel")).to_contain_text(MRN)
    expect(page.locator("#patient-panel")).to_contain_text("this access is recorded")
    assert page.errors == []
