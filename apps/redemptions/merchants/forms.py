"""Forms for the partner's merchant pages. Rules that need the database (a unique name, who
already owns an email) live in apps.redemptions.merchants.services; the views turn its errors
into field errors here."""

from __future__ import annotations

from django import forms

from apps.campaigns.models import Campaign
from apps.redemptions.models import Merchant, RedemptionAttempt


def campaign_choices_field() -> forms.ModelMultipleChoiceField:
    # The queryset is the current partner's campaigns: the form is built inside its schema.
    return forms.ModelMultipleChoiceField(
        label="Campaigns it may redeem",
        queryset=Campaign.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checkbox-list"}),
        help_text="The merchant can validate and redeem codes of the ticked campaigns only.",
        error_messages={"invalid_choice": "Choose campaigns from the list."},
    )


class MerchantFormBase(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=120,
        help_text="Unique among your merchants, e.g. the shop's name and town.",
        error_messages={"required": "Enter the merchant's name."},
    )
    location = forms.CharField(label="Location", max_length=200, required=False)

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError("Enter the merchant's name.")
        return name

    def clean_location(self) -> str:
        return self.cleaned_data["location"].strip()


class MerchantCreateForm(MerchantFormBase):
    email = forms.EmailField(
        label="Login email",
        max_length=254,
        help_text=(
            "The merchant signs in with this address. A new address gets an email to choose a "
            "password; an existing account keeps its password."
        ),
        error_messages={
            "required": "Enter the email address the merchant will sign in with.",
            "invalid": "Enter a valid email address, like shop@example.com.",
        },
    )

    field_order = ["name", "location", "email", "campaigns"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["campaigns"] = campaign_choices_field()

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


class MerchantEditForm(MerchantFormBase):
    is_active = forms.BooleanField(
        label="Active",
        required=False,
        help_text="A switched-off merchant cannot validate or redeem, by web form or API.",
    )

    def __init__(self, *args: object, merchant: Merchant, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["campaigns"] = campaign_choices_field()
        if merchant.user_id is None:
            self.fields["campaigns"].disabled = True
            self.fields[
                "campaigns"
            ].help_text = (
                "This merchant has no login any more, so it cannot be allowed any campaign."
            )


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Key name",
        max_length=120,
        required=False,
        help_text="Optional: where the key is used, e.g. “Till 2” or “Web shop”.",
    )


class AttemptFilterForm(forms.Form):
    """Filters above the attempt log (GET; an unknown value is simply not applied)."""

    merchant = forms.ModelChoiceField(
        label="Merchant",
        queryset=Merchant.objects.order_by("name"),
        required=False,
        empty_label="All merchants",
    )
    result = forms.ChoiceField(
        label="Result",
        required=False,
        choices=[("", "Any result"), ("ok", "Succeeded"), ("failed", "Failed")],
    )
    action = forms.ChoiceField(
        label="Action",
        required=False,
        choices=[("", "Any action"), *RedemptionAttempt.Action.choices],
    )

    def values(self) -> dict[str, object]:
        values: dict[str, object] = {"merchant_id": None, "result": "", "action": ""}
        if self.is_bound:
            for name in self.fields:
                # Validate field by field: one bad filter must not drop the others.
                field = self.fields[name]
                try:
                    value = field.clean(field.widget.value_from_datadict(self.data, {}, name))
                except forms.ValidationError:
                    continue
                if name == "merchant":
                    values["merchant_id"] = value.pk if value else None
                else:
                    values[name] = value or ""
        return values
