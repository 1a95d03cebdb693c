"""The patient-data guard refuses identifiers and lets ordinary notes through."""

import pytest

from marketplace.errors import ValidationFailed
from marketplace.patient_data import find_patient_identifiers, guard_patient_data


@pytest.mark.parametrize(
    "text",
    [
        "Patient 123-45-6789 had issues",
        "see MRN 00482913",
        "patient ID: 5531",
        "Medical record number 778812",
        "DOB 03/14/1961",
        "born 1961-03-14",
        "date of birth: 14.03.1961",
        "NHS 943 476 5919",
        "nhs number 9434765919",
        "Versichertennummer A123456789",
    ],
)
def test_identifiers_are_found(text: str) -> None:
    assert find_patient_identifiers(text)


@pytest.mark.parametrize(
    "text",
    [
        "We want to evaluate it on 200 CT studies per month.",
        "Call me at +49 30 1234567 about the trial.",
        "Version 3.0.0-rc.1 released 2026-03-14.",
        "Order 1234567890 refers to our PO.",  # ten digits but not a valid NHS number
        "Our ITSM ticket INC-00482913.",
        "",
    ],
)
def test_ordinary_text_passes(text: str) -> None:
    assert find_patient_identifiers(text) == []


def test_the_error_names_each_field_and_says_why() -> None:
    with pytest.raises(ValidationFailed) as caught:
        guard_patient_data({"notes": "MRN 00482913", "reason": "fine", "other": None})
    assert caught.value.code == "patient_data"
    assert set(caught.value.fields) == {"notes"}
    assert "patient data" in caught.value.fields["notes"][0]
