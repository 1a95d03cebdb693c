"""Forms of the vendor portal: a listing's facts (also those a revision proposes), offerings,
plans, versions and uploads. They check the shape of input like the API's serializers do; the
catalog services decide the rest and their errors are put back on the form by
`add_service_error` (or, for clearance rows, on the row at fault)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from apps.catalog import services as catalog_services
from apps.catalog.models import (
    Artifact,
    Category,
    Document,
    Modality,
    Offering,
    Plan,
    RegulatoryClearance,
    Specialty,
    Standard,
)
from apps.storefront.forms import CheckboxMultiple, StorefrontForm
from marketplace.currencies import validate_currency

MB = 1024 * 1024
TERM_FIELDS = {"categories": Category, "specialties": Specialty, "modalities": Modality, "standards": Standard}
TERM_LIMITS = {"categories": 20, "specialties": 20, "modalities": 20, "standards": 30}
TEXT_FACTS = ("name", "tagline", "description", "intended_use", "support_email", "support_url", "eula_version")
BOOLEAN_FACTS = ("processes_patient_data", "deidentified_before_leaving_site")
LIST_FACTS = ("data_residency", "security_certifications")
EULA_VERSION = r"^[0-9A-Za-z][0-9A-Za-z.\-]{0,19}$"


class CommaListField(forms.CharField):
    """A short list typed as comma-separated words ("EU, CH"); cleans to a list without
    duplicates, each item at most `item_max_length` characters."""

    def __init__(self, *args: Any, item_max_length: int, max_items: int, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 2000)
        super().__init__(*args, **kwargs)
        self.item_max_length = item_max_length
        self.max_items = max_items

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value)
        return value

    def clean(self, value: Any) -> list[str]:
        text = super().clean(value) or ""
        items = list(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))
        too_long = [item for item in items if len(item) > self.item_max_length]
        if too_long:
            raise forms.ValidationError(f"Keep each entry under {self.item_max_length + 1} characters: {too_long[0]}.")
        if len(items) > self.max_items:
            raise forms.ValidationError(f"At most {self.max_items} entries.")
        return items


def _term_choices(model: type) -> list[tuple[str, str]]:
    return list(model.objects.order_by("name").values_list("slug", "name"))


class ListingCreateForm(StorefrontForm):
    name = forms.CharField(
        label="Name of the app",
        max_length=120,
        help_text="As hospitals will see it in the store. You fill in the rest in the editor.",
    )


class ListingFactsForm(StorefrontForm):
    """What a listing says about itself: texts, classification, data handling, support and the
    EULA version. A draft saves these directly; a live listing's revision proposes them."""

    name = forms.CharField(label="Name", max_length=120)
    tagline = forms.CharField(
        label="Tagline",
        max_length=200,
        required=False,
        help_text="One line shown in search results. Needed before review.",
    )
    description = forms.CharField(
        label="Description",
        max_length=20000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text="Markdown: **bold**, *italic*, lists with -, links as [text](https://…), headings with ##. "
        "Needed before review.",
    )
    intended_use = forms.CharField(
        label="Intended use",
        max_length=4000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What it is for, for whom and in which setting, as stated in its clearance. Needed before review.",
    )
    categories = forms.MultipleChoiceField(
        label="Categories", required=False, widget=CheckboxMultiple, help_text="At least one before review."
    )
    specialties = forms.MultipleChoiceField(label="Specialties", required=False, widget=CheckboxMultiple)
    modalities = forms.MultipleChoiceField(label="Modalities", required=False, widget=CheckboxMultiple)
    standards = forms.MultipleChoiceField(label="Interoperability standards", required=False, widget=CheckboxMultiple)
    processes_patient_data = forms.BooleanField(label="It processes patient data", required=False)
    deidentified_before_leaving_site = forms.BooleanField(
        label="Data is de-identified before it leaves the hospital's site", required=False
    )
    data_residency = CommaListField(
        label="Data residency",
        item_max_length=40,
        max_items=20,
        help_text="Regions where data lives, separated by commas, e.g. EU, CH.",
    )
    security_certifications = CommaListField(
        label="Security certifications",
        item_max_length=60,
        max_items=20,
        help_text="Separated by commas, e.g. ISO 27001, SOC 2 Type II.",
    )
    support_email = forms.EmailField(
        label="Support e-mail", required=False, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    support_url = forms.URLField(label="Support page", required=False, assume_scheme="https", help_text="https://…")
    eula_version = forms.RegexField(
        label="EULA version",
        regex=EULA_VERSION,
        max_length=20,
        initial="1.0",
        help_text="The version of your end-user license agreement buyers accept, e.g. 2.1.",
        error_messages={"invalid": "Use letters, digits, dots or hyphens, e.g. 2.1."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "facts")
        super().__init__(*args, **kwargs)
        for name, model in TERM_FIELDS.items():
            self.fields[name].choices = _term_choices(model)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name, limit in TERM_LIMITS.items():
            if len(cleaned.get(name) or []) > limit:
                self.add_error(name, f"Choose at most {limit}.")
        return cleaned

    def service_data(self, clearances: list[dict[str, Any]]) -> dict[str, Any]:
        """What `listing_update`, `revision_create` and `revision_update` take."""
        data = {name: self.cleaned_data[name] for name in (*TEXT_FACTS, *BOOLEAN_FACTS, *LIST_FACTS)}
        data.update({name: list(self.cleaned_data[name]) for name in TERM_FIELDS})
        data["clearances"] = clearances
        return data

    @staticmethod
    def initial_from(facts: dict[str, Any]) -> dict[str, Any]:
        """Initial values from a facts snapshot (the live listing's, or a revision's data)."""
        return {name: value for name, value in facts.items() if name != "clearances"}


class ClearanceForm(StorefrontForm):
    """One regulatory clearance row; an empty row is skipped."""

    authority = forms.ChoiceField(label="Authority", required=False)
    device_class = forms.CharField(label="Device class", required=False, max_length=20)
    identifier = forms.CharField(label="Identifier", required=False, max_length=60)
    cleared_on = forms.DateField(
        label="Cleared on", required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def __init__(self, *args: Any, row: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.row = row
        self.fields["authority"].choices = [("", "Choose…"), *RegulatoryClearance.Authority.choices]
        for field in self.fields.values():
            # Each cell has a label of its own (visually hidden; the column header shows it).
            field.label = f"Clearance {row} {field.label.lower()}"
            field.widget.attrs.setdefault("autocomplete", "off")

    @property
    def is_blank(self) -> bool:
        if not self.is_bound:
            return True
        return not any(str(self.data.get(self.add_prefix(name), "")).strip() for name in self.fields)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.is_blank and not cleaned.get("authority") and "authority" not in self.errors:
            self.add_error("authority", "Choose the authority that cleared it.")
        return cleaned


class BaseClearanceFormSet(forms.BaseFormSet):
    def get_form_kwargs(self, index: int) -> dict[str, Any]:
        return {**super().get_form_kwargs(index), "row": index + 1}

    def filled(self) -> list[tuple[ClearanceForm, dict[str, Any]]]:
        """The rows with anything in them, in order, with what the service takes."""
        rows = []
        for form in self.forms:
            if form.is_blank:
                continue
            data = form.cleaned_data if hasattr(form, "cleaned_data") else {}
            rows.append(
                (
                    form,
                    {
                        "authority": data.get("authority") or "",
                        "device_class": data.get("device_class") or "",
                        "identifier": data.get("identifier") or "",
                        "cleared_on": data.get("cleared_on"),
                    },
                )
            )
        return rows


CLEARANCE_ROWS = 2  # empty rows offered; "Add rows" offers more without JavaScript
CLEARANCE_MAX = 30
ClearanceFormSet = forms.formset_factory(
    ClearanceForm, formset=BaseClearanceFormSet, extra=0, max_num=CLEARANCE_MAX, absolute_max=CLEARANCE_MAX
)


def clearance_formset(facts: dict[str, Any] | None = None, data: Any = None, *, more: int = 0) -> Any:
    """The clearance rows: from a facts snapshot (with empty rows to add more), or bound."""
    if data is not None:
        if more:
            data = data.copy()
            try:
                total = int(data.get("clearance-TOTAL_FORMS") or 0)
            except ValueError:
                total = 0
            data["clearance-TOTAL_FORMS"] = str(min(total + more, CLEARANCE_MAX))
            formset = ClearanceFormSet(data, prefix="clearance")
            if total < len(formset.forms):  # the first new row gets focus, also without JavaScript
                formset.forms[total].fields["authority"].widget.attrs["autofocus"] = True
            return formset
        return ClearanceFormSet(data, prefix="clearance")
    rows = [dict(row) for row in (facts or {}).get("clearances") or []]
    rows += [{}] * CLEARANCE_ROWS
    return ClearanceFormSet(initial=rows[:CLEARANCE_MAX], prefix="clearance")


# --- offerings and plans ------------------------------------------------------------------------


class OfferingForm(StorefrontForm):
    mode = forms.ChoiceField(label="Deployment mode", choices=Offering.Mode.choices)
    name = forms.CharField(label="Name", max_length=120, help_text="e.g. EU cloud, or On-premise server.")
    regions = CommaListField(
        label="Cloud regions",
        item_max_length=40,
        max_items=50,
        help_text="Cloud and hybrid: region codes separated by commas, e.g. eu-central, us-east. "
        "A cloud offering names at least one.",
    )
    requirement_os = forms.CharField(
        label="Operating system", required=False, max_length=120, help_text="On premise: e.g. Ubuntu 22.04 LTS."
    )
    requirement_cpu_cores = forms.IntegerField(label="CPU cores", required=False, min_value=1, max_value=1024)
    requirement_memory_gb = forms.IntegerField(label="Memory (GB)", required=False, min_value=1, max_value=65535)
    requirement_gpu = forms.CharField(label="GPU", required=False, max_length=120, help_text="Optional.")
    requirement_disk_gb = forms.IntegerField(label="Disk (GB)", required=False, min_value=1, max_value=10_000_000)

    CLOUD_FIELDS = ("regions",)
    ON_PREMISE_FIELDS = (
        "requirement_os",
        "requirement_cpu_cores",
        "requirement_memory_gb",
        "requirement_gpu",
        "requirement_disk_gb",
    )

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        for name in ("requirement_os", "requirement_gpu"):
            data[name] = data[name] or ""
        return data

    @staticmethod
    def initial_from(offering: Offering) -> dict[str, Any]:
        return {
            "mode": offering.mode,
            "name": offering.name,
            "regions": offering.regions,
            **{name: getattr(offering, name) for name in OfferingForm.ON_PREMISE_FIELDS},
        }


class PlanForm(StorefrontForm):
    name = forms.CharField(label="Name", max_length=120, help_text="e.g. Department, Enterprise.")
    pricing_model = forms.ChoiceField(label="Pricing model", choices=Plan.PricingModel.choices)
    price = forms.DecimalField(
        label="Price",
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=2,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
        help_text="Subscription: per billing period; usage-based: per unit. Empty for free and quote-only plans.",
    )
    currency = forms.CharField(
        label="Currency code",
        required=False,
        max_length=3,
        widget=forms.TextInput(attrs={"size": 3, "maxlength": 3, "autocapitalize": "characters"}),
        help_text="ISO 4217, e.g. EUR.",
    )
    billing_period = forms.ChoiceField(
        label="Billing period", required=False, choices=[("", "—"), *Plan.BillingPeriod.choices]
    )
    usage_unit = forms.CharField(
        label="Usage unit", required=False, max_length=60, help_text="Usage-based: what is counted, e.g. study."
    )
    trial_days = forms.IntegerField(
        label="Trial days", min_value=0, max_value=365, initial=0, help_text="0: no trial. At most 365."
    )
    trial_auto_approve = forms.BooleanField(
        label="Approve trial requests at once", required=False, help_text="Otherwise you decide each request."
    )

    def clean_currency(self) -> str:
        currency = (self.cleaned_data.get("currency") or "").strip().upper()
        if currency:
            validate_currency(currency)  # a ValidationError shows next to the field
        return currency

    def service_data(self) -> dict[str, Any]:
        return dict(self.cleaned_data)

    @staticmethod
    def initial_from(plan: Plan) -> dict[str, Any]:
        return {
            "name": plan.name,
            "pricing_model": plan.pricing_model,
            "price": plan.price,
            "currency": plan.currency,
            "billing_period": plan.billing_period,
            "usage_unit": plan.usage_unit,
            "trial_days": plan.trial_days,
            "trial_auto_approve": plan.trial_auto_approve,
        }


class ActiveForm(StorefrontForm):
    """Activate or deactivate an offering or a plan."""

    active = forms.TypedChoiceField(choices=[("1", "active"), ("0", "inactive")], coerce=lambda value: value == "1")


# --- versions and files -------------------------------------------------------------------------


def upload_limit(policy: Any) -> int:
    """The size limit of a file policy (artifacts: the whole request's limit)."""
    return policy.max_bytes or getattr(settings, "MARKETPLACE_MAX_UPLOAD_BYTES", 50 * MB)


def _accepted(policy: Any) -> str:
    return ", ".join(f".{extension}" for extension in sorted(policy.extensions))


class UploadFormMixin:
    """A file field that says what it accepts; `data-max-bytes` lets the portal's script refuse
    a file that is too large before sending it (the server checks again)."""

    policy: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = upload_limit(self.policy)
        field = self.fields["file"]  # type: ignore[attr-defined]
        extensions = _accepted(self.policy)
        field.help_text = f"{field.help_text} {extensions}; at most {limit // MB} MB.".strip()
        field.widget.attrs.update({"accept": ",".join(extensions.split(", ")), "data-max-bytes": str(limit)})


class VersionForm(StorefrontForm):
    version = forms.CharField(label="Version", max_length=60, help_text="A semantic version, e.g. 2.4.1 or 3.0.0-rc.1.")
    released_on = forms.DateField(
        label="Released on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty: today.",
    )
    release_notes = forms.CharField(
        label="Release notes", required=False, max_length=20000, widget=forms.Textarea(attrs={"rows": 4})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "version")
        super().__init__(*args, **kwargs)


class ArtifactForm(UploadFormMixin, StorefrontForm):
    policy = catalog_services.ARTIFACT_POLICY

    kind = forms.ChoiceField(label="Kind", choices=Artifact.Kind.choices, initial=Artifact.Kind.INSTALLER)
    file = forms.FileField(label="File", help_text="Its SHA-256 checksum is measured on upload.")


class DocumentForm(UploadFormMixin, StorefrontForm):
    policy = catalog_services.DOCUMENT_POLICY

    kind = forms.ChoiceField(label="Kind", choices=[("", "Choose…"), *Document.Kind.choices])
    title = forms.CharField(label="Title", required=False, max_length=200, help_text="Empty: the kind's name.")
    visibility = forms.ChoiceField(
        label="Who may download it",
        choices=[
            (Document.Visibility.PUBLIC, "Everyone (public)"),
            (Document.Visibility.ON_REQUEST, "Verified hospitals only (on request)"),
        ],
        initial=Document.Visibility.PUBLIC,
        widget=forms.RadioSelect(attrs={"class": "choice-list"}),
    )
    file = forms.FileField(label="File", help_text="")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "document")
        super().__init__(*args, **kwargs)


class ScreenshotForm(UploadFormMixin, StorefrontForm):
    policy = catalog_services.IMAGE_POLICY

    caption = forms.CharField(
        label="Caption", required=False, max_length=200, help_text="Describe what it shows (its alternative text)."
    )
    file = forms.FileField(label="Image", help_text="")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "screenshot")
        super().__init__(*args, **kwargs)


class LogoForm(UploadFormMixin, StorefrontForm):
    policy = catalog_services.IMAGE_POLICY

    file = forms.FileField(label="Logo file", help_text="Square works best.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "logo")
        super().__init__(*args, **kwargs)
