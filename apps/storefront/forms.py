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


def add_service_error(form: forms.BaseForm, exc: ApplicationError | DjangoValidationError) -> None:
    """Show a service's error on the form: messages for fields the form has go next to them,
    the overall message (or anything about fields it lacks) goes on top."""
    if isinstance(exc, ApplicationError):
        message, fields = exc.message, exc.fields
    elif hasattr(exc, "error_dict"):
        message, fields = "Please correct the errors below.", exc.message_dict
    else:
        message, fields = " ".join(exc.messages), {}
    shown: list[str] = []
    for name, messages in fields.items():
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
