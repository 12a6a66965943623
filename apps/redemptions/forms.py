"""The merchant's redemption form: what a person types at the till, turned into the
service's inputs (the code as typed, the order amount in minor units)."""

from __future__ import annotations

from django import forms

from apps.core.money import AmountError, decimal_minor_units


class RedeemForm(forms.Form):
    # No max_length and no character check here on purpose: the service judges the code, so
    # a bad one is answered with the same sentence as through the API, is recorded in the
    # attempt log and counts towards the guessing throttle.
    code = forms.CharField(
        label="Code",
        error_messages={"required": "Enter the code the customer shows you."},
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "autofocus": True,
                "class": "mono",
            }
        ),
    )
    order_amount = forms.CharField(
        label="Order amount",
        required=False,
        help_text="Optional, e.g. 25.99. Needed for percentage discounts.",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    customer_ref = forms.CharField(
        label="Customer reference",
        required=False,
        max_length=120,
        help_text="Optional: a receipt number or loyalty card, to find this sale later.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def clean_order_amount(self) -> int | None:
        """ "25.99" → 2599 minor units. Refuses rather than rounds, so a typo never turns into
        a different discount."""
        raw = self.cleaned_data.get("order_amount") or ""
        if not raw.strip():
            return None
        try:
            return decimal_minor_units(raw)
        except AmountError as exc:
            raise forms.ValidationError(exc.message) from None
