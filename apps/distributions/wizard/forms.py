"""Forms of the distribution wizard: one per step, and one per channel for the messages of
step 4 and of each reminder (step 5).

Message fields go through apps.messaging.templating.clean_template_field, so an unknown merge
tag such as {{ customer.nme }} is a field error naming it, and the email's HTML is sanitized
before it is validated and stored.
"""

from __future__ import annotations

import html as html_lib
import re
from typing import Any, cast

from django import forms
from django.db.models import Count, Q

from apps.campaigns.models import Campaign
from apps.campaigns.selectors import publishable_campaigns
from apps.customers.models import Segment
from apps.distributions.completeness import ATTRIBUTE_RE, MERGE_FIELD_RE
from apps.distributions.models import TRIGGER_EVENTS, Distribution
from apps.distributions.wizard.drafts import default_attribute, default_merge_field, name_clash
from apps.messaging.models import ChannelAccount
from apps.messaging.sanitize import html_to_text
from apps.messaging.templating import clean_template_field

KIND_HELP = {
    "manual": "Sent once, right after you launch it, to a segment or to customers you choose.",
    "automatic": "Sent each time a customer meets the trigger: enters a segment, or an event "
    "such as a paid order. Each customer gets one code.",
}

# A rich-text editor escapes the quotes and angle brackets typed inside merge tags
# ({{ voucher.expiration_date|date:"j F Y" }} becomes …date:&quot;j F Y&quot;…), which would no
# longer be a valid template; inside {{ … }} and {% … %} they are put back before validating.
_TAG_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


def unescape_merge_tags(source: str) -> str:
    return _TAG_RE.sub(lambda m: html_lib.unescape(m.group(0)).replace("\xa0", " "), source)


class KindForm(forms.Form):
    kind = forms.ChoiceField(
        label="Type",
        choices=Distribution.Kind.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose manual or automatic."},
    )


class NameForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=120,
        error_messages={"required": "Give the distribution a name."},
        help_text="Only you and your team see it, e.g. “Spring welcome”. Names are unique.",
    )

    def __init__(self, *args: Any, distribution: Distribution, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.distribution = distribution

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError("Give the distribution a name.", code="required")
        existing = name_clash(name, exclude=self.distribution.pk)
        if existing is not None:
            raise forms.ValidationError(
                f"There is already a distribution named “{existing.name}”. Choose another name.",
                code="name_taken",
            )
        return name


# --- Messages ------------------------------------------------------------------------------


class ChannelContentForm(forms.Form):
    """One channel's message. `reminder` forms are for step 5 (a reminder always says
    something, so Intercom's text is required there)."""

    channel = ""

    def __init__(
        self,
        *args: Any,
        account: ChannelAccount | None = None,
        reminder: bool = False,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.account = account
        self.reminder = reminder

    def content(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name) or "" for name in self.fields}


class EmailContentForm(ChannelContentForm):
    channel = "email"
    subject = forms.CharField(
        label="Subject",
        max_length=200,
        error_messages={"required": "Write a subject."},
    )
    html = forms.CharField(
        label="Message",
        widget=forms.Textarea(attrs={"rows": 10, "data-editor": "quill"}),
        error_messages={"required": "Write the message."},
        help_text="Formatting, links and merge tags. Scripts and styles are removed.",
    )

    def clean_subject(self) -> str:
        return clean_template_field(self.cleaned_data["subject"], html=False).strip()

    def clean_html(self) -> str:
        source = clean_template_field(unescape_merge_tags(self.cleaned_data["html"]), html=True)
        if not html_to_text(source).strip():
            raise forms.ValidationError("Write the message.", code="required")
        return source


class SmsContentForm(ChannelContentForm):
    channel = "sms"
    text = forms.CharField(
        label="Text",
        widget=forms.Textarea(attrs={"rows": 4, "data-sms-counter": "1"}),
        error_messages={"required": "Write the text."},
        help_text="Merge tags are counted as you type them; the preview shows the length for a "
        "sample customer.",
    )

    def clean_text(self) -> str:
        # Browsers post a textarea's line breaks as CRLF: counted and sent as LF.
        text = self.cleaned_data["text"].replace("\r\n", "\n")
        return clean_template_field(text, html=False).strip()


class MailchimpContentForm(ChannelContentForm):
    channel = "mailchimp"
    merge_field = forms.CharField(
        label="Merge field that receives the code",
        max_length=10,
        help_text="The audience field tag, e.g. COUPON: your MailChimp emails show the code "
        "with *|COUPON|*.",
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["merge_field"].initial = default_merge_field(self.account)

    def clean_merge_field(self) -> str:
        value = self.cleaned_data["merge_field"].strip().upper()
        if not MERGE_FIELD_RE.match(value):
            raise forms.ValidationError(
                "Merge field tags are up to 10 capital letters, digits or _, e.g. COUPON.",
                code="invalid_merge_field",
            )
        return value


class IntercomContentForm(ChannelContentForm):
    channel = "intercom"
    text = forms.CharField(
        label="Message text",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Optional: sent as an Intercom message. Leave it empty to only set the "
        "attribute.",
    )
    attribute = forms.CharField(
        label="Contact attribute that receives the code",
        required=False,
        max_length=190,
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.reminder:
            # A reminder sets nothing new: it is the message alone.
            del self.fields["attribute"]
            self.fields["text"].required = True
            self.fields["text"].error_messages["required"] = "Write the reminder's text."
            self.fields["text"].help_text = ""
        else:
            self.fields["attribute"].initial = default_attribute(self.account)

    def clean_text(self) -> str:
        return clean_template_field(self.cleaned_data["text"], html=False).strip()

    def clean_attribute(self) -> str:
        value = self.cleaned_data["attribute"].strip()
        if value and not ATTRIBUTE_RE.match(value):
            raise forms.ValidationError(
                "Use letters, digits, spaces, _ or - in the attribute name.",
                code="invalid_attribute",
            )
        return value

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not self.reminder and not data.get("text") and not data.get("attribute"):
            if not self.errors:
                raise forms.ValidationError(
                    "Give a message text, an attribute, or both.", code="intercom_empty"
                )
        return data


CONTENT_FORMS: dict[str, type[ChannelContentForm]] = {
    "email": EmailContentForm,
    "sms": SmsContentForm,
    "mailchimp": MailchimpContentForm,
    "intercom": IntercomContentForm,
}


def content_form(
    channel: str,
    *,
    data: Any = None,
    initial: dict[str, Any] | None = None,
    prefix: str,
    account: ChannelAccount | None,
    reminder: bool = False,
) -> ChannelContentForm:
    return CONTENT_FORMS[channel](
        data, initial=initial or None, prefix=prefix, account=account, reminder=reminder
    )


class ReminderDaysForm(forms.Form):
    days = forms.IntegerField(
        label="Days after sending",
        min_value=1,
        max_value=365,
        error_messages={
            "required": "Say after how many days the reminder goes.",
            "min_value": "A reminder is sent at least 1 day after the first message.",
            "max_value": "A reminder is sent at most 365 days after the first message.",
            "invalid": "Write a whole number of days.",
        },
    )


# --- Audience and campaign -----------------------------------------------------------------


class AudienceForm(forms.Form):
    audience = forms.ChoiceField(
        label="Who receives the codes",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose who receives the codes."},
    )
    segment = forms.ModelChoiceField(
        label="Segment",
        queryset=Segment.objects.order_by("name"),
        required=False,
        empty_label="Choose a segment…",
    )
    include_current_members = forms.BooleanField(
        label="Also send to the customers already in the segment when it is activated",
        required=False,
    )
    trigger_event = forms.ChoiceField(
        label="Customer event",
        required=False,
        choices=[("", "Choose an event…"), *TRIGGER_EVENTS.items()],
    )

    def __init__(self, *args: Any, distribution: Distribution, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.distribution = distribution
        automatic = distribution.kind == Distribution.Kind.AUTOMATIC
        cast(forms.ChoiceField, self.fields["audience"]).choices = (
            [("segment", "A segment (fires when a customer enters it)"), ("event", "An event")]
            if automatic
            else [("segment", "A segment"), ("customers", "Customers I choose")]
        )
        if not automatic:
            del self.fields["include_current_members"]
            del self.fields["trigger_event"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        audience = data.get("audience")
        if audience == "segment" and not data.get("segment"):
            self.add_error("segment", "Choose a segment.")
        if audience == "event" and not data.get("trigger_event"):
            self.add_error("trigger_event", "Choose the customer event that sends the code.")
        if audience == "customers" and not self.distribution.chosen.exists():
            self.add_error(None, "Pick at least one customer: search for them below.")
        return data


class _CampaignChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:  # annotated with codes_left (below)
        return f"{obj.name} ({obj.codes_left:,} codes left)"


class CampaignForm(forms.Form):
    campaign = _CampaignChoiceField(
        label="Campaign",
        queryset=Campaign.objects.none(),
        empty_label="Choose a campaign…",
        error_messages={
            "required": "Choose the campaign whose codes are sent.",
            "invalid_choice": "That campaign cannot publish codes now (inactive, expired or out "
            "of codes); choose another.",
        },
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        field = cast(_CampaignChoiceField, self.fields["campaign"])
        field.queryset = publishable_campaigns().annotate(
            codes_left=Count(
                "vouchers", filter=Q(vouchers__published_at__isnull=True, vouchers__active=True)
            )
        )
