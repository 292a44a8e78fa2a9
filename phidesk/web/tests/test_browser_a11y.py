"""Accessibility: axe-core finds no serious or critical violation on the main pages.

axe-core is a dev dependency from npm (`npm install` at the repository root, or
`make node-deps`). Without it this test fails: an unchecked page is not a pass.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from phidesk.web.tests.conftest import PATIENT, Hospital, sign_in, sign_out

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

AXE = Path(__file__).resolve().parents[3] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


def _axe_path() -> Path:
    if not AXE.is_file():
        pytest.fail(
            f"axe-core is missing at {AXE}. Install the npm dev dependencies at the "
            "repository root (`npm install` or `make node-deps`) and run again.",
            pytrace=False,
        )
    return AXE


def audit(page: Any, label: str) -> list[str]:
    """Run axe on the page as it is now; return readable serious/critical violations."""
    page.add_script_tag(path=str(_axe_path()))
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({target: n.target.join(" "),
                                          summary: n.failureSummary}))
            }));
        }"""
    )
    found = []
    for violation in result:
        if violation["impact"] not in BLOCKING:
            continue
        lines = [f"[{label}] {violation['impact']}: {violation['id']} - {violation['help']}"]
        for node in violation["nodes"][:5]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(f"    at {node['target']}: {summary}")
        lines.append(f"    see {violation['helpUrl']}")
        found.append("\n".join(lines))
    return found


def test_main_pages_have_no_serious_accessibility_violations(
    web_server: str, site: Hospital, new_page
):
    _axe_path()  # fail first and clearly when axe-core is not installed
    base = web_server
    key = site.file("requester", title="Chart will not open", restricted=True, **PATIENT)
    site.file("requester", title="Label printer in 4 West is down", priority="P2")
    phi_agent = site.actor("phi_agent")
    from phidesk.tickets import services

    services.message_create(
        actor=phi_agent, key=key, body="Checking the access log.", internal=True
    )
    services.message_create(actor=phi_agent, key=key, body="We are looking into it.")

    problems: list[str] = []
    page = new_page(bypass_csp=True)

    page.goto(f"{base}/accounts/login/")
    problems += audit(page, "sign-in")

    sign_in(page, base, site.email("requester"))
    problems += audit(page, "portal")
    page.goto(f"{base}/portal/new/")
    page.get_by_text("This is about a patient's record").click()
    problems += audit(page, "new ticket")
    page.goto(f"{base}/t/{key}/")
    problems += audit(page, "ticket (requester)")
    sign_out(page)

    sign_in(page, base, site.email("phi_agent"))
    problems += audit(page, "desk")
    page.goto(f"{base}/t/{key}/")
    page.get_by_text("Edit ticket").click()
    page.get_by_text("Reveal patient details").click()
    problems += audit(page, "ticket (agent)")
    page.get_by_label("Why do you need the patient details?").fill(
        "Checking the chart access error for Dr. Lee"
    )
    page.get_by_role("button", name="Reveal and record").click()
    page.locator("#patient-panel.is-revealed").wait_for()
    problems += audit(page, "ticket (revealed)")
    page.goto(f"{base}/desk/patient/")
    page.get_by_role("textbox", name="Patient MRN").fill(PATIENT["patient_mrn"])
    page.get_by_role("button", name="Find tickets").click()
    page.get_by_text("Chart will not open").first.wait_for()
    problems += audit(page, "find patient")
    page.goto(f"{base}/t/HD-999999/")
    problems += audit(page, "not found")
    sign_out(page)

    sign_in(page, base, site.email("privacy"))
    page.goto(f"{base}/audit/")
    problems += audit(page, "audit trail")
    page.get_by_role("textbox", name="Access report for a patient (MRN)").fill(
        PATIENT["patient_mrn"]
    )
    page.get_by_role("button", name="Show who touched this patient's tickets").click()
    page.get_by_text("Events about this patient's tickets").wait_for()
    problems += audit(page, "patient access report")
    sign_out(page)

    sign_in(page, base, site.email("admin"))
    page.goto(f"{base}/admin/keys/")
    problems += audit(page, "keys")

    # Phone width: the sidebar collapses above the content and the table becomes cards.
    phone = new_page(width=390, height=844, bypass_csp=True)
    sign_in(phone, base, site.email("phi_agent"))
    problems += audit(phone, "desk (phone)")

    assert not problems, (
        f"{len(problems)} serious or critical accessibility violation(s):\n\n"
        + "\n\n".join(problems)
    )
    assert page.errors == [] and phone.errors == [], json.dumps(page.errors + phone.errors)
