"""Forms of the channel pages: one account form per channel (shown values and secrets), the
test-message form and the outbox filters.

A secret field is never filled in when the page is shown; left empty on an edit it keeps the
saved value, so nobody has to retype a token to change a sender number."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.validators import validate_email

from apps.customers.validators import FieldProblem, clean_phone
from apps.messaging.models import Channel, OutboxMessage


class AccountForm(forms.Form):
    """Base: subclasses list their `config_fields` and `secret_fields`."""

    config_fields: tuple[str, ...] = ()
    secret_fields: tuple[str, ...] = ()

    rate_limit = forms.IntegerField(
        label="Messages per second",
        min_value=1,
        max_value=1000,
        initial=10,
        help_text="The most this account may send per second, across all workers.",
    )

    def __init__(self, *args: Any, saved_hints: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.saved_hints = saved_hints or {}
        for name in self.secret_fields:
            field = self.fields[name]
            if name in self.saved_hints:
                field.required = False
                field.help_text = (
                    f"Saved ({self.saved_hints[name]}). Leave empty to keep it. " + field.help_text
                )
        # rate limit last on the page
        self.order_fields([*self.config_fields, *self.secret_fields, "rate_limit"])

    def config(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.config_fields}

    def secrets(self) -> dict[str, str]:
        """The secrets typed in this time (empty ones are kept from the saved account)."""
        return {
            name: self.cleaned_data[name] for name in self.secret_fields if self.cleaned_data[name]
        }


def _phone(value: str) -> str:
    """A phone number in E.164, or "" for none: the rule and sentences customers' numbers
    follow, so a number accepted on a customer is accepted here too."""
    try:
        return clean_phone(value)
    except FieldProblem as exc:
        raise forms.ValidationError(exc.message) from exc


def _secret(label: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=500,
        help_text=help_text,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        strip=True,
    )


class EmailAccountForm(AccountForm):
    config_fields = ("mode", "host", "port", "username", "security", "from_email", "reply_to")
    secret_fields = ("password",)

    mode = forms.ChoiceField(
        label="Send through",
        choices=[
            ("platform", "The platform's sender (configured by the operator)"),
            ("smtp", "My own SMTP server"),
        ],
        widget=forms.RadioSelect,
        initial="smtp",
    )
    host = forms.CharField(label="SMTP host", max_length=255, required=False)
    port = forms.IntegerField(
        label="Port", min_value=1, max_value=65535, initial=587, required=False
    )
    username = forms.CharField(label="Username", max_length=255, required=False)
    security = forms.ChoiceField(
        label="Security",
        choices=[
            ("starttls", "STARTTLS (port 587)"),
            ("ssl", "SSL/TLS (port 465)"),
            ("none", "None"),
        ],
        initial="starttls",
    )
    password = _secret("Password")
    from_email = forms.CharField(
        label="From",
        max_length=254,
        required=False,
        help_text=(
            "Own SMTP server only, e.g. “Alpha Retail <offers@alpha.example>”. The platform's "
            "sender always uses the operator's address."
        ),
    )
    reply_to = forms.EmailField(label="Reply-To", required=False)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["password"].required = False

    def clean_from_email(self) -> str:
        value = self.cleaned_data["from_email"].strip()
        if value:
            match = re.search(r"<([^>]+)>\s*$", value)
            try:
                validate_email(match.group(1) if match else value)
            except forms.ValidationError as exc:
                raise forms.ValidationError(
                    "Enter an address, optionally with a name: Alpha Retail <offers@alpha.example>."
                ) from exc
        return value

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("mode") == "smtp":
            for name in ("host", "port"):
                if not data.get(name):
                    self.add_error(name, "Required when you send through your own SMTP server.")
            if (
                data.get("username")
                and not data.get("password")
                and "password" not in self.saved_hints
            ):
                self.add_error("password", "Enter the password for this username.")
        return data

    def config(self) -> dict[str, Any]:
        config = super().config()
        config["use_tls"] = config["security"] == "starttls"
        config["use_ssl"] = config["security"] == "ssl"
        return config


class SmsAccountForm(AccountForm):
    config_fields = ("account_sid", "from_number", "messaging_service_sid")
    secret_fields = ("auth_token",)

    account_sid = forms.RegexField(
        label="Account SID",
        regex=r"^AC[0-9a-fA-F]{32}$",
        error_messages={"invalid": "An Account SID is AC followed by 32 hexadecimal characters."},
        help_text="Twilio Console › Account info.",
    )
    auth_token = _secret("Auth token", "Twilio Console › Account info.")
    from_number = forms.CharField(
        label="Sender number",
        max_length=20,
        required=False,
        help_text="A Twilio number of this account, in E.164 (+14155550123).",
    )
    messaging_service_sid = forms.RegexField(
        label="Messaging service SID",
        regex=r"^MG[0-9a-fA-F]{32}$",
        required=False,
        error_messages={
            "invalid": "A Messaging Service SID is MG followed by 32 hexadecimal characters."
        },
        help_text="Instead of a sender number.",
    )

    def clean_from_number(self) -> str:
        return _phone(self.cleaned_data["from_number"])

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not data.get("from_number") and not data.get("messaging_service_sid"):
            raise forms.ValidationError("Give a sender number or a messaging service SID.")
        return data


class MailchimpAccountForm(AccountForm):
    config_fields = ("server_prefix", "list_id", "merge_field")
    secret_fields = ("api_key",)

    api_key = _secret("API key", "MailChimp › Account › Extras › API keys.")
    server_prefix = forms.RegexField(
        label="Server prefix",
        regex=r"^[a-z]{2,4}\d{1,3}$",
        error_messages={"invalid": "The server prefix looks like us21: the end of your API key."},
        help_text="The part after the dash at the end of your API key, e.g. us21.",
    )
    list_id = forms.CharField(label="Audience (list) id", max_length=40)
    merge_field = forms.RegexField(
        label="Merge field",
        regex=r"^[A-Z0-9_]{1,10}$",
        initial="COUPON",
        error_messages={"invalid": "Merge field tags are up to 10 capital letters, digits or _."},
        help_text="The audience field that receives the code, e.g. COUPON (*|COUPON|* in emails).",
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        key = data.get("api_key") or ""
        prefix = data.get("server_prefix") or ""
        if key and "-" in key and prefix and not key.endswith("-" + prefix):
            self.add_error(
                "server_prefix", f"Your API key ends in “-{key.rsplit('-', 1)[1]}”; use that."
            )
        return data


class IntercomAccountForm(AccountForm):
    config_fields = ("attribute", "admin_id", "message_type")
    secret_fields = ("access_token", "client_secret")

    access_token = _secret("Access token", "Intercom Developer Hub › your app › Authentication.")
    client_secret = _secret(
        "Client secret", "Developer Hub › your app › Basic information; signs webhooks."
    )
    attribute = forms.RegexField(
        label="Contact attribute",
        regex=r"^[A-Za-z0-9_ -]{1,190}$",
        initial="coupon_code",
        help_text="The custom attribute that receives the code.",
    )
    admin_id = forms.CharField(
        label="Sender admin id",
        max_length=40,
        required=False,
        help_text="Needed only to send a message as well as set the attribute.",
    )
    message_type = forms.ChoiceField(
        label="Message type", choices=[("inapp", "In-app"), ("email", "Email")], initial="inapp"
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["client_secret"].required = False


ACCOUNT_FORMS: dict[str, type[AccountForm]] = {
    Channel.EMAIL: EmailAccountForm,
    Channel.SMS: SmsAccountForm,
    Channel.MAILCHIMP: MailchimpAccountForm,
    Channel.INTERCOM: IntercomAccountForm,
}


class TestMessageForm(forms.Form):
    """Send one message to an address typed by staff (no customer, no consent check)."""

    recipient = forms.CharField(label="Send to", max_length=254)
    subject = forms.CharField(
        label="Subject", max_length=300, required=False, initial="Test message"
    )
    text = forms.CharField(
        label="Text",
        widget=forms.Textarea(attrs={"rows": 4}),
        initial="This is a test message. Your code: TEST-1234",
        max_length=1600,
    )

    def __init__(self, *args: Any, channel: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.channel = channel
        if channel == Channel.SMS:
            self.fields["recipient"].help_text = "A mobile number in E.164, e.g. +14155550123."
            del self.fields["subject"]
        else:
            self.fields["recipient"].help_text = "An email address."

    def clean_recipient(self) -> str:
        value = self.cleaned_data["recipient"].strip()
        if self.channel == Channel.SMS:
            phone = _phone(value)
            if not phone:
                raise forms.ValidationError("Enter a mobile number, e.g. +14155550123.")
            return phone
        try:
            validate_email(value)
        except forms.ValidationError as exc:
            raise forms.ValidationError("Enter an email address, e.g. you@example.com.") from exc
        return value.lower()


class OutboxFilterForm(forms.Form):
    channel = forms.ChoiceField(choices=[("", "All channels"), *Channel.choices], required=False)
    status = forms.ChoiceField(
        choices=[("", "All statuses"), *OutboxMessage.Status.choices], required=False
    )
    q = forms.CharField(required=False, max_length=254, label="Recipient")
