"""Forms for the campaign pages: the codes filter and the brand's campaign edit form."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.campaigns.models import Campaign
from apps.campaigns.selectors import STATUSES


class CodeFilterForm(forms.Form):
    """The search and status filter above the codes table (GET, never invalid: an unknown
    value is simply not applied)."""

    q = forms.CharField(label="Search codes", required=False, max_length=100)
    match = forms.ChoiceField(
        label="Match",
        required=False,
        choices=[("prefix", "Starts with"), ("contains", "Contains")],
    )
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Any status")] + [(s, s.title()) for s in STATUSES],
    )

    def values(self) -> dict[str, str]:
        if not self.is_valid():
            return {"q": "", "match": "prefix", "status": ""}
        data = self.cleaned_data
        return {
            "q": data["q"].strip(),
            "match": data["match"] or "prefix",
            "status": data["status"] or "",
        }


class CampaignEditForm(forms.ModelForm):
    """What the brand may change on a partner's campaign after allocation: the name and
    description shown to the partner, the active switch and the expiration date. Discount and
    code format are fixed once codes exist."""

    expiration_date = forms.DateTimeField(
        label="Expires",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        help_text="Leave empty for no expiry. Codes stop working at this moment.",
    )

    class Meta:
        model = Campaign
        fields = ["name", "description", "active", "expiration_date"]
        labels = {"active": "Active (codes can be redeemed)"}
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Enter a name for the campaign.")
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        expires = cleaned.get("expiration_date")
        start = self.instance.start_date
        if expires and start and expires <= start:
            self.add_error(
                "expiration_date",
                f"The expiration must come after the start ({start:%Y-%m-%d %H:%M}); "
                "choose a later date or leave it empty.",
            )
        return cleaned
