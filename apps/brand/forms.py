"""Brand console forms."""

from __future__ import annotations

from django import forms


class PartnerCreateForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Shown to the partner's users.")
    slug = forms.CharField(
        max_length=40,
        help_text="The partner's address: /p/<slug>/. Lowercase letters, digits and hyphens.",
        widget=forms.TextInput(
            attrs={
                "pattern": "[a-z][a-z0-9-]{1,38}[a-z0-9]",
                "autocapitalize": "none",
                "spellcheck": "false",
            }
        ),
    )
