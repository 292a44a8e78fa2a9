"""Input rules for ticket fields. Each returns the cleaned value or raises InvalidInput."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from phidesk.core.errors import InvalidInput

MAX_TITLE = 200
MAX_DESCRIPTION = 20_000
MAX_BODY = 20_000
_MRN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{2,19}$")
# Letters in any script, with the spaces, apostrophes, hyphens and dots names carry.
_NAME_RE = re.compile(r"^[^\W\d_](?:[^\W\d_]|[ '\u2019.,-]){0,119}$")


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text", field=field)
    # Refuse control characters (except newlines and tabs) outright.
    if any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in value):
        raise InvalidInput(f"{field} contains control characters", field=field)
    return value.strip()


def clean_title(value: object) -> str:
    title = " ".join(_text(value, "title").split())
    if not title:
        raise InvalidInput("a title is required", field="title")
    if len(title) > MAX_TITLE:
        raise InvalidInput(f"the title is limited to {MAX_TITLE} characters", field="title")
    return title


def clean_description(value: object) -> str:
    text = _text(value, "description")
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(
            f"the description is limited to {MAX_DESCRIPTION} characters", field="description"
        )
    return text


def clean_body(value: object) -> str:
    text = _text(value, "body")
    if not text:
        raise InvalidInput("the message is empty", field="body")
    if len(text) > MAX_BODY:
        raise InvalidInput(f"a message is limited to {MAX_BODY} characters", field="body")
    return text


def clean_mrn(value: object) -> str:
    mrn = _text(value or "", "patient_mrn").upper()
    if mrn and not _MRN_RE.match(mrn):
        raise InvalidInput("an MRN is 3 to 20 letters, digits or dashes", field="patient_mrn")
    return mrn


def clean_patient_name(value: object) -> str:
    name = " ".join(_text(value or "", "patient_name").split())
    if name and not _NAME_RE.match(name):
        raise InvalidInput("that does not look like a person's name", field="patient_name")
    return name


def clean_dob(value: object) -> str:
    raw = _text(value or "", "patient_dob")
    if not raw:
        return ""
    try:
        dob = dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidInput("date of birth must be YYYY-MM-DD", field="patient_dob") from exc
    if dob > dt.date.today() or dob.year < 1890:
        raise InvalidInput("date of birth is out of range", field="patient_dob")
    return dob.isoformat()
