"""The patient-data guard: free text that looks like it identifies a patient is refused.

The marketplace never holds patient data. Notes and reasons are for people talking about
software, so anything below is refused with a 400 naming the field and saying what was found:

- US social security numbers: 123-45-6789 (also with spaces);
- labelled medical record numbers or patient ids: "MRN 00482913", "patient ID: 5531",
  "medical record number 12345", "Patientennummer 123456";
- labelled dates of birth: "DOB 03/14/1961", "born 1961-03-14", "date of birth: 14.03.1961";
- NHS numbers (10 digits, optionally 3-3-4 spaced) whose modulus-11 check digit is valid;
- German health insurance numbers (a letter and 9 digits, "Versichertennummer").
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from marketplace.errors import ValidationFailed

_SSN = re.compile(r"(?<!\d)(?!000|666|9\d\d)\d{3}[- ](?!00)\d{2}[- ](?!0000)\d{4}(?!\d)")
_RECORD_ID = re.compile(
    r"\b(?:mrn|medical\s+record(?:\s+(?:number|no\.?|#))?|patient\s*(?:id|identifier|number|no\.?|#)"
    r"|patientennummer|fallnummer)\s*[:#=]?\s*[A-Z]{0,3}\d{3,}",
    re.IGNORECASE,
)
_DATE = r"(?:\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}-\d{1,2}-\d{1,2})"
_BIRTH_DATE = re.compile(
    rf"\b(?:dob|d\.o\.b\.?|date\s+of\s+birth|born(?:\s+on)?|birth\s*date|geboren(?:\s+am)?|geb\.?)\s*[:=]?\s*{_DATE}",
    re.IGNORECASE,
)
_NHS_CANDIDATE = re.compile(r"(?<!\d)(\d{3})[ -]?(\d{3})[ -]?(\d{4})(?!\d)")
_INSURANCE = re.compile(r"\b(?:versichertennummer|insurance\s+(?:id|number))\s*[:#]?\s*[A-Z]\d{9}\b", re.IGNORECASE)


def _valid_nhs_number(digits: str) -> bool:
    if len(digits) != 10 or len(set(digits)) == 1:
        return False
    total = sum(int(digit) * weight for digit, weight in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - (total % 11)
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def find_patient_identifiers(text: str) -> list[str]:
    """The kinds of patient identifier found in `text` (empty when none)."""
    if not text:
        return []
    found: list[str] = []
    if _SSN.search(text):
        found.append("a social security number")
    if _RECORD_ID.search(text):
        found.append("a medical record number or patient id")
    if _BIRTH_DATE.search(text):
        found.append("a date of birth")
    if any(_valid_nhs_number("".join(match.groups())) for match in _NHS_CANDIDATE.finditer(text)):
        found.append("an NHS number")
    if _INSURANCE.search(text):
        found.append("a health insurance number")
    return found


def guard_patient_data(fields: Mapping[str, str | None]) -> None:
    """Raise ValidationFailed naming every field whose text looks like it identifies a patient."""
    problems: dict[str, list[str]] = {}
    for name, text in fields.items():
        kinds = find_patient_identifiers(text or "")
        if kinds:
            problems[name] = [
                f"This looks like patient data ({', '.join(kinds)}). The marketplace must never receive "
                "patient data: remove it and refer to cases by your own internal reference instead."
            ]
    if problems:
        raise ValidationFailed(
            "Patient data is not allowed in the marketplace.", code="patient_data", fields=problems
        )
