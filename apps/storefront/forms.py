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
