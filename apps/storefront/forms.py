"""Forms of the web store. They check the shape of input; the services decide the rest and
their ApplicationError is put back on the form by `add_service_error`."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import forms as auth_forms
from django.core.exceptions import ValidationError as DjangoValidationError

from apps.organizations.models import ApiClient, MemberRole, Organization, Site
from marketplace.errors import ApplicationError


class StorefrontFormMixin:
    template_name = "storefront/forms/form.html"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class StorefrontForm(StorefrontFormMixin, forms.Form):
    pass


class StorefrontModelForm(StorefrontFormMixin, forms.ModelForm):
    """Used for validation only (labels, choices, validators come from the model); saving is the
    service's job, so views never call `save()`."""


def add_service_error(
    form: forms.BaseForm, exc: ApplicationError | DjangoValidationError, aliases: dict[str, str] | None = None
) -> None:
    """Show a service's error on the form: messages for fields the form has go next to them,
    the overall message (or anything about fields it lacks) goes on top. `aliases` names the
    form's field for a service field it shows under another name."""
    if isinstance(exc, ApplicationError):
        message, fields = exc.message, exc.fields
    elif hasattr(exc, "error_dict"):
        message, fields = "Please correct the errors below.", exc.message_dict
    else:
        message, fields = " ".join(exc.messages), {}
    shown: list[str] = []
    for name, messages in fields.items():
        name = (aliases or {}).get(name, name)
        target = name if name in form.fields else None
        for text in messages:
            form.add_error(target, text)
            shown.append(text)
    if message not in shown:
        form.add_error(None, message)


# --- accounts -----------------------------------------------------------------------------


class PasswordTwiceMixin(forms.Form):
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters; not a common password.",
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        return cleaned


class SignUpForm(PasswordTwiceMixin, StorefrontForm):
    email = forms.EmailField(label="E-mail address", widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    full_name = forms.CharField(
        label="Full name", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    field_order = ("email", "full_name", "password1", "password2")


class InvitationSignUpForm(PasswordTwiceMixin, StorefrontForm):
    """Create an account for the invited address (shown, not editable) and accept at once."""

    full_name = forms.CharField(
        label="Full name", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    field_order = ("full_name", "password1", "password2")


class InvitationSignInForm(StorefrontForm):
    password = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class SignInForm(StorefrontForm):
    email = forms.EmailField(
        label="E-mail address", widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    password = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


# --- organizations ------------------------------------------------------------------------

PROFILE_FORM_FIELDS = ("name", "kind", "sector", "country", "website", "description", "partnership_offer")


class OrganizationFormMixin:
    def clean_country(self) -> str:
        return (self.cleaned_data.get("country") or "").strip().upper()


class OrganizationCreateForm(OrganizationFormMixin, StorefrontModelForm):
    website = forms.URLField(label="Website", required=False, assume_scheme="https", help_text="https://…")

    class Meta:
        model = Organization
        fields = PROFILE_FORM_FIELDS
        widgets = {
            "description": forms.Textarea(attrs={"rows": 4}),
            "partnership_offer": forms.Textarea(attrs={"rows": 3}),
            "country": forms.TextInput(attrs={"size": 2, "maxlength": 2, "autocomplete": "country"}),
        }
        help_texts = {"country": "Two-letter ISO code, e.g. DE."}


class OrganizationProfileForm(OrganizationCreateForm):
    class Meta(OrganizationCreateForm.Meta):
        fields = (*PROFILE_FORM_FIELDS, "legal_name", "registration_number", "contact_email")
        help_texts = {
            **OrganizationCreateForm.Meta.help_texts,
            "contact_email": "Where the platform's operators reach you about verification.",
        }

    accept_partner_terms = forms.BooleanField(
        required=False,
        label="We accept the current partner terms",
        help_text="Required before a vendor can be verified.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance.is_vendor:
            # Verification applies to vendors only; providers keep a short form.
            for name in ("legal_name", "registration_number", "contact_email", "accept_partner_terms"):
                del self.fields[name]

    def service_data(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class InvitationForm(StorefrontForm):
    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(label="Role", choices=MemberRole.choices, initial=MemberRole.MEMBER)


class MemberRoleForm(StorefrontForm):
    role = forms.ChoiceField(label="Role", choices=MemberRole.choices)


class SiteForm(StorefrontModelForm):
    class Meta:
        model = Site
        fields = ("name", "kind", "network_posture", "country", "city")
        widgets = {"country": forms.TextInput(attrs={"size": 2, "maxlength": 2})}
        help_texts = {"country": "Two-letter ISO code, e.g. DE."}

    def clean_country(self) -> str:
        return (self.cleaned_data.get("country") or "").strip().upper()


class ApiClientForm(StorefrontForm):
    name = forms.CharField(label="Name", max_length=255, help_text="What it is for, e.g. “ITSM connector”.")
    role = forms.ChoiceField(label="Role", choices=ApiClient.Role.choices, initial=ApiClient.Role.MEMBER)


class OrganizationSwitchForm(StorefrontForm):
    organization = forms.SlugField()


class PasswordChangeForm(StorefrontFormMixin, auth_forms.PasswordChangeForm):
    pass


# --- trials -------------------------------------------------------------------------------


class PlanSelect(forms.Select):
    """A select whose options carry the offering's mode (`data-mode`), so a small script can show
    only the target field that applies; without it both fields stay and the view uses the one
    the chosen offering needs."""

    def __init__(self, *args: Any, modes: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.modes = modes or {}

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        mode = self.modes.get(str(value))
        if mode:
            option["attrs"]["data-mode"] = mode
        return option


class TrialRequestForm(StorefrontForm):
    """Offering and plan in one select (value: the plan's public id), then a region (cloud) or one
    of the provider's sites (on premise, hybrid). The service decides what is allowed."""

    plan = forms.ChoiceField(
        label="Offering and plan",
        error_messages={
            "required": "Choose an offering and plan.",
            "invalid_choice": "That plan offers no trial here; choose one of those listed.",
        },
    )
    region = forms.ChoiceField(label="Region", required=False, help_text="For cloud offerings: where it runs.")
    site = forms.ChoiceField(
        label="Site", required=False, help_text="For on-premise and hybrid offerings: where it is installed."
    )
    notes = forms.CharField(
        label="Notes for the vendor",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Optional: what you want to evaluate. Never patient data.",
    )

    def __init__(self, *args: Any, plans: list[Any], sites: list[Site], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plans = {str(plan.public_id): plan for plan in plans}
        self.sites = {str(site.public_id): site for site in sites}
        choices = [(key, self.plan_label(plan)) for key, plan in self.plans.items()]
        modes = {key: plan.offering.mode for key, plan in self.plans.items()}
        self.fields["plan"].widget = PlanSelect(modes=modes)
        self.fields["plan"].choices = choices if len(choices) == 1 else [("", "Choose an offering and plan"), *choices]
        regions: list[str] = []
        for plan in plans:
            if plan.offering.mode == "cloud":
                regions.extend(region for region in plan.offering.regions if region not in regions)
        self.regions = regions
        self.fields["region"].choices = [("", "Choose a region"), *((region, region) for region in regions)]
        self.fields["site"].choices = [
            ("", "Choose a site"),
            *((key, f"{site.name}{f' ({site.city})' if site.city else ''}") for key, site in self.sites.items()),
        ]
        if len(regions) == 1:
            self.fields["region"].initial = regions[0]
        if len(self.sites) == 1:
            self.fields["site"].initial = next(iter(self.sites))
        self.needs_region = any(plan.offering.mode == "cloud" for plan in plans)
        self.needs_site = any(plan.offering.mode != "cloud" for plan in plans)
        self.error_focus = ""

    def focus_first_error(self) -> None:
        """Put focus (autofocus, so also without JavaScript) on the first field in error, or on
        the error box when the error is about the whole request."""
        self.error_focus = next((name for name in self.fields if name in self.errors), "__all__")
        if self.error_focus != "__all__":
            self.fields[self.error_focus].widget.attrs["autofocus"] = True

    @staticmethod
    def plan_label(plan: Any) -> str:
        decision = "approved at once" if plan.trial_auto_approve else "the vendor approves"
        mode = plan.offering.get_mode_display().lower()
        return f"{plan.offering.name} ({mode}) — {plan.name}: {plan.trial_days}-day trial, {decision}"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        plan = self.plans.get(cleaned.get("plan") or "")
        cleaned["plan_object"] = plan
        # Only the target the chosen offering needs goes to the service, and only its errors
        # count: a region picked before switching to an on-premise plan (no JavaScript to hide
        # the field) is not an error.
        if plan is not None:
            unused = "site" if plan.offering.mode == "cloud" else "region"
            self.errors.pop(unused, None)
            cleaned[unused] = ""
        cleaned["site_object"] = self.sites.get(cleaned.get("site") or "")
        cleaned["region"] = cleaned.get("region") or ""
        return cleaned


class TrialDeclineForm(StorefrontForm):
    reason = forms.CharField(
        label="Reason",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The hospital sees it. Never patient data.",
        error_messages={"required": "Say why, so the hospital knows what to do next."},
    )


# --- buying: quotes, purchases, terms, reviews ------------------------------------------------


def error_summary(*forms_: forms.BaseForm | forms.BaseFormSet | None) -> list[dict[str, str]]:
    """Every error of the forms, in the order of their fields, for the box on top of a form:
    `href` links to the field at fault (empty for errors about the whole form)."""
    items: list[dict[str, str]] = []
    for form in forms_:
        if form is None or not form.is_bound:
            continue
        if isinstance(form, forms.BaseFormSet):
            items.extend({"href": "", "text": str(error)} for error in form.non_form_errors())
            items.extend(error_summary(*form.forms))
            continue
        items.extend({"href": "", "text": str(error)} for error in form.non_field_errors())
        for name in form.fields:
            if name not in form.errors:
                continue
            bound = form[name]
            # A group of checkboxes or radios has no single input its label points at: link the first.
            anchor = bound.id_for_label or f"{bound.auto_id}_0"
            items.extend({"href": f"#{anchor}", "text": f"{bound.label}: {error}"} for error in bound.errors)
    return items


class CheckboxMultiple(forms.CheckboxSelectMultiple):
    """Checkboxes in a fieldset whose options are laid out by the stylesheet."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.attrs.setdefault("class", "choice-list")


class TermsChoiceField(forms.MultipleChoiceField):
    """The agreements a buyer accepts, one checkbox each (value `kind:version`). A version that
    changed since the page was shown is not an invalid choice: the service says which agreement
    is now in which version."""

    widget = CheckboxMultiple

    def valid_value(self, value: Any) -> bool:
        return isinstance(value, str) and 0 < len(value) <= 60 and ":" in value


class TermsFormMixin(forms.Form):
    """`accepted_terms` (every required agreement, by title and version) and a purchase order
    number; `cleaned_data["accepted_terms"]` is what the services take."""

    purchase_order_number = forms.CharField(
        label="Purchase order number",
        required=False,
        max_length=60,
        help_text="Optional: your organization's reference; it is printed on the order.",
    )
    accepted_terms = TermsChoiceField(label="Terms you accept", required=False)

    def set_terms(self, terms: list[dict[str, str]]) -> None:
        self.terms = terms
        self.fields["accepted_terms"].choices = [
            (f"{term['kind']}:{term['version']}", f"I accept the {term['title']}, version {term['version']}")
            for term in terms
        ]
        self.fields["accepted_terms"].help_text = "All are required."

    def clean_accepted_terms(self) -> list[dict[str, str]]:
        given: dict[str, str] = {}
        for value in self.cleaned_data.get("accepted_terms") or []:
            kind, _, version = value.partition(":")
            given[kind] = version
        missing = [term for term in self.terms if term["kind"] not in given]
        if missing:
            raise forms.ValidationError(
                [f"Accept the {term['title']} (version {term['version']})." for term in missing]
            )
        return [{"kind": kind, "version": version} for kind, version in given.items()]


class TargetFieldsMixin(forms.Form):
    """A region (cloud offerings) or one or more of the provider's sites (on premise, hybrid);
    only the target the chosen offering needs is used, the other is ignored, so a browser
    without JavaScript (which shows both) never gets an error for the unused one."""

    region = forms.ChoiceField(label="Region", required=False, help_text="For cloud offerings: where it runs.")
    sites = forms.MultipleChoiceField(
        label="Sites",
        required=False,
        widget=CheckboxMultiple,
        help_text="For on-premise and hybrid offerings: where it is installed (one or more).",
    )

    def set_targets(self, offerings: list[Any], sites: list[Site]) -> None:
        self.sites = {str(site.public_id): site for site in sites}
        regions: list[str] = []
        for offering in offerings:
            if offering.mode == "cloud":
                regions.extend(region for region in offering.regions if region not in regions)
        self.regions = regions
        self.fields["region"].choices = [("", "Choose a region"), *((region, region) for region in regions)]
        self.fields["sites"].choices = [
            (key, f"{site.name}{f' ({site.city})' if site.city else ''}") for key, site in self.sites.items()
        ]
        if len(regions) == 1:
            self.fields["region"].initial = regions[0]
        if len(self.sites) == 1:
            self.fields["sites"].initial = [next(iter(self.sites))]
        self.needs_region = any(offering.mode == "cloud" for offering in offerings)
        self.needs_site = any(offering.mode != "cloud" for offering in offerings)

    def clean_targets(self, cleaned: dict[str, Any], offering: Any) -> None:
        if offering is not None:
            unused = "sites" if offering.mode == "cloud" else "region"
            self.errors.pop(unused, None)
            cleaned[unused] = [] if unused == "sites" else ""
        cleaned["site_objects"] = [self.sites[key] for key in cleaned.get("sites") or [] if key in self.sites]
        cleaned["region"] = cleaned.get("region") or ""


def _offering_label(offering: Any) -> str:
    return f"{offering.name} ({offering.get_mode_display().lower()})"


class QuoteRequestForm(TargetFieldsMixin, StorefrontForm):
    """Request a quote on the listing page: an offering under one of its plans or custom terms,
    the target, quantities, a desired start, notes and optionally an open trial it follows
    (accepting the quote then converts that trial and keeps its deployment)."""

    CUSTOM = "custom:"

    plan = forms.ChoiceField(
        label="Offering and plan",
        error_messages={
            "required": "Choose an offering and a plan, or custom terms.",
            "invalid_choice": "Choose one of the offerings and plans listed.",
        },
    )
    seats = forms.IntegerField(
        label="Seats", required=False, min_value=1, max_value=1_000_000, help_text="Optional: users."
    )
    studies_per_month = forms.IntegerField(
        label="Studies per month", required=False, min_value=0, max_value=100_000_000, help_text="Optional."
    )
    desired_start = forms.DateField(
        label="Desired start", required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="Optional."
    )
    notes = forms.CharField(
        label="Notes for the vendor",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Optional: what you need. Never patient data.",
    )
    trial = forms.ChoiceField(
        label="Follows the trial",
        required=False,
        help_text="Accepting the quote then converts that trial; what runs keeps running.",
    )
    field_order = ("plan", "region", "sites", "seats", "studies_per_month", "desired_start", "trial", "notes")

    def __init__(self, *args: Any, offerings: list[Any], sites: list[Site], trials: list[Any], **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "quote")
        super().__init__(*args, **kwargs)
        self.choices_map: dict[str, tuple[Any, Any]] = {}
        choices: list[tuple[str, str]] = []
        modes: dict[str, str] = {}
        for offering in offerings:
            for plan in offering.active_plans:
                key = str(plan.public_id)
                self.choices_map[key] = (offering, plan)
                choices.append((key, f"{_offering_label(offering)} — {plan.name}"))
                modes[key] = offering.mode
            key = f"{self.CUSTOM}{offering.public_id}"
            self.choices_map[key] = (offering, None)
            choices.append((key, f"{_offering_label(offering)} — custom terms"))
            modes[key] = offering.mode
        self.fields["plan"].widget = PlanSelect(modes=modes)
        self.fields["plan"].choices = [("", "Choose an offering and plan"), *choices]
        self.set_targets(offerings, sites)
        self.trials = {str(trial.public_id): trial for trial in trials}
        self.fields["trial"].choices = [
            ("", "None"),
            *(
                (key, f"{trial.offering.name} · {trial.plan.name} at {trial.target} ({trial.get_status_display()})")
                for key, trial in self.trials.items()
            ),
        ]
        if not self.trials:
            del self.fields["trial"]
        self.error_focus = ""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        offering, plan = self.choices_map.get(cleaned.get("plan") or "", (None, None))
        cleaned["offering_object"], cleaned["plan_object"] = offering, plan
        self.clean_targets(cleaned, offering)
        cleaned["trial_object"] = self.trials.get(cleaned.get("trial") or "")
        return cleaned


class PurchaseForm(TargetFieldsMixin, TermsFormMixin, StorefrontForm):
    """Buy a list-priced plan on the listing page (provider admins), accepting the listing's terms."""

    plan = forms.ChoiceField(
        label="Offering and plan",
        error_messages={
            "required": "Choose what to buy.",
            "invalid_choice": "That plan has no list price here; choose one of those listed or request a quote.",
        },
    )
    seats = forms.IntegerField(
        label="Seats", required=False, min_value=1, max_value=1_000_000, help_text="Optional: users or workstations."
    )
    field_order = ("plan", "region", "sites", "seats", "purchase_order_number", "accepted_terms")

    def __init__(
        self, *args: Any, plans: list[Any], sites: list[Site], terms: list[dict[str, str]], **kwargs: Any
    ) -> None:
        kwargs.setdefault("prefix", "buy")
        super().__init__(*args, **kwargs)
        self.plans = {str(plan.public_id): plan for plan in plans}
        self.fields["plan"].widget = PlanSelect(modes={key: plan.offering.mode for key, plan in self.plans.items()})
        choices = [(key, self.plan_label(plan)) for key, plan in self.plans.items()]
        self.fields["plan"].choices = choices if len(choices) == 1 else [("", "Choose an offering and plan"), *choices]
        offerings = list({plan.offering.pk: plan.offering for plan in plans}.values())
        self.set_targets(offerings, sites)
        self.set_terms(terms)

    @staticmethod
    def plan_label(plan: Any) -> str:
        from apps.storefront.templatetags.storefront_catalog import plan_price

        return f"{_offering_label(plan.offering)} — {plan.name}: {plan_price(plan)}"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        plan = self.plans.get(cleaned.get("plan") or "")
        cleaned["plan_object"] = plan
        self.clean_targets(cleaned, plan.offering if plan else None)
        return cleaned


class TrialConvertForm(TermsFormMixin, StorefrontForm):
    """Buy the trial's plan (provider admins): the running deployment moves to the subscription."""

    field_order = ("purchase_order_number", "accepted_terms")

    def __init__(self, *args: Any, terms: list[dict[str, str]], **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "convert")
        super().__init__(*args, **kwargs)
        self.set_terms(terms)


class QuoteAcceptForm(TermsFormMixin, StorefrontForm):
    """Accept the version shown (provider admins): a newer one issued meanwhile is refused."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    field_order = ("purchase_order_number", "accepted_terms")

    def __init__(self, *args: Any, terms: list[dict[str, str]], **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "accept")
        super().__init__(*args, **kwargs)
        self.set_terms(terms)


class QuoteIssueForm(StorefrontForm):
    """The quote's conditions; the line items are a formset next to it."""

    currency = forms.CharField(
        label="Currency code",
        max_length=3,
        min_length=3,
        widget=forms.TextInput(attrs={"size": 3, "maxlength": 3, "autocapitalize": "characters"}),
    )
    valid_until = forms.DateField(label="Valid until", widget=forms.DateInput(attrs={"type": "date"}))
    term_months = forms.IntegerField(label="Term in months", min_value=1, max_value=120, initial=12)
    auto_renew = forms.BooleanField(label="Renews automatically at the end of the term", required=False, initial=True)
    terms = forms.CharField(
        label="Terms",
        required=False,
        max_length=8000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Optional: payment terms, what is included. Never patient data.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "issue")
        super().__init__(*args, **kwargs)


class LineItemForm(StorefrontForm):
    """One row of the line-item editor; an empty row is skipped. Amounts and the total are the
    server's (the service computes them)."""

    description = forms.CharField(label="Description", required=False, max_length=300)
    quantity = forms.DecimalField(
        label="Quantity",
        required=False,
        max_digits=12,
        decimal_places=2,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    unit_price = forms.DecimalField(
        label="Unit price",
        required=False,
        max_digits=12,
        decimal_places=2,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )

    def __init__(self, *args: Any, row: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.row = row
        for field in self.fields.values():
            # Each cell has a label of its own (visually hidden; the column header shows it).
            field.label = f"Line {row} {field.label.lower()}"
            field.widget.attrs.setdefault("autocomplete", "off")

    @property
    def is_blank(self) -> bool:
        if not self.is_bound:
            return True
        return not any(str(self.data.get(self.add_prefix(name), "")).strip() for name in self.fields)


class BaseLineItemFormSet(forms.BaseFormSet):
    def get_form_kwargs(self, index: int) -> dict[str, Any]:
        return {**super().get_form_kwargs(index), "row": index + 1}

    def filled(self) -> list[tuple[LineItemForm, dict[str, Any]]]:
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
                        "description": data.get("description") or "",
                        "quantity": data.get("quantity"),
                        "unit_price": data.get("unit_price"),
                    },
                )
            )
        return rows


LINE_ITEM_ROWS = 5  # empty rows offered; "Add rows" offers more without JavaScript
LINE_ITEM_MAX = 50
LineItemFormSet = forms.formset_factory(
    LineItemForm, formset=BaseLineItemFormSet, extra=0, max_num=LINE_ITEM_MAX, absolute_max=LINE_ITEM_MAX
)


class ReasonForm(StorefrontForm):
    """A reason the other party sees (required or optional, per action)."""

    reason = forms.CharField(
        label="Reason",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The other party sees it. Never patient data.",
        error_messages={"required": "Say why, so the other party knows what to do next."},
    )

    def __init__(self, *args: Any, required: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = required
        if not required:
            self.fields["reason"].label = "Reason (optional)"


class ReviewForm(StorefrontForm):
    RATINGS = [
        (5, "5 stars: excellent"),
        (4, "4 stars: good"),
        (3, "3 stars: fair"),
        (2, "2 stars: poor"),
        (1, "1 star: bad"),
    ]

    rating = forms.TypedChoiceField(
        label="Rating",
        choices=RATINGS,
        coerce=int,
        widget=forms.RadioSelect(attrs={"class": "choice-list"}),
        error_messages={"required": "Choose a rating from 1 to 5 stars."},
    )
    title = forms.CharField(label="Title", required=False, max_length=120, help_text="Optional.")
    body = forms.CharField(
        label="Review",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Optional: what worked, what did not. Never patient data.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "review")
        super().__init__(*args, **kwargs)


# --- on premise and vendor fulfillment ------------------------------------------------------

RECEIPT_MAX_BYTES = 64 * 1024


class ReceiptForm(StorefrontForm):
    """The receipt.jws an air-gapped site's agent wrote, as a file or pasted; the service checks
    everything else."""

    receipt_file = forms.FileField(
        label="Receipt file",
        required=False,
        widget=forms.FileInput(attrs={"accept": ".jws,.txt,text/plain,application/jose"}),
        help_text="receipt.jws, as the agent wrote it.",
    )
    receipt_text = forms.CharField(
        label="Or paste the receipt",
        required=False,
        max_length=RECEIPT_MAX_BYTES,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
        help_text="The contents of receipt.jws: one line of text.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        upload, text = cleaned.get("receipt_file"), (cleaned.get("receipt_text") or "").strip()
        if upload and text:
            self.add_error("receipt_text", "Give the receipt once: choose the file or paste it, not both.")
        elif upload:
            if upload.size > RECEIPT_MAX_BYTES:
                self.add_error("receipt_file", "This is not a receipt: receipts are a few kilobytes.")
            else:
                try:
                    cleaned["receipt"] = upload.read().decode("utf-8").strip()
                except UnicodeDecodeError:
                    self.add_error("receipt_file", "This is not a receipt: choose the receipt.jws the agent wrote.")
        elif text:
            cleaned["receipt"] = text
        elif not self.errors:
            self.add_error("receipt_file", "Choose the receipt file, or paste the receipt below.")
        return cleaned

    @property
    def receipt_field(self) -> str:
        """The field the receipt came in, for the service's errors about it."""
        return "receipt_file" if self.files.get(self.add_prefix("receipt_file")) else "receipt_text"


class FulfillmentSettingsForm(StorefrontForm):
    """How an offering is deployed; the choices are what fits its mode (the service checks)."""

    provisioner = forms.ChoiceField(
        label="Deployed by",
        widget=forms.RadioSelect(attrs={"class": "choice-list"}),
        error_messages={"required": "Choose how this offering is deployed."},
    )
    fulfillment_url = forms.URLField(
        label="Fulfillment URL",
        required=False,
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Your HTTPS endpoint for provision, suspend, resume and deprovision requests, signed "
        "with this offering's signing secret. Needed when your cloud takes part (Vendor's cloud, Hybrid).",
    )

    def __init__(self, *args: Any, provisioners: list[tuple[str, str]], with_url: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provisioner"].choices = provisioners
        if not with_url:
            del self.fields["fulfillment_url"]
