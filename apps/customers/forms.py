"""Forms for the customer pages: the list filters, the customer form, and the two steps of a
CSV import (upload, column mapping). Validation of single values lives in validators.py so the
import and the API refuse the same values with the same sentences."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from apps.customers import validators as v
from apps.customers.fields import ATTRIBUTES, CONSENT_FIELDS
from apps.customers.importing import (
    FIELD_CHOICES,
    MATCH_CHOICES,
    MAX_IMPORT_BYTES,
    ImportFileError,
    decode_upload,
    guess_mapping,
    mapping_problems,
    read_header,
)
from apps.customers.models import Customer

YES_NO = [("", "Any"), ("yes", "Yes"), ("no", "No")]


def _problem(clean: Any, *args: Any) -> Any:
    try:
        return clean(*args)
    except v.FieldProblem as problem:
        raise forms.ValidationError(problem.message) from None


class CustomerFilterForm(forms.Form):
    """Search and filters above the customer list (GET; an invalid value is not applied)."""

    q = forms.CharField(label="Search", required=False, max_length=200)
    email_consent = forms.ChoiceField(label="Email consent", required=False, choices=YES_NO)
    sms_consent = forms.ChoiceField(label="SMS consent", required=False, choices=YES_NO)
    created_after = forms.DateField(
        label="Created from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    created_before = forms.DateField(
        label="Created until", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def values(self) -> dict[str, Any]:
        empty = {name: "" for name in self.fields} | {"created_after": None, "created_before": None}
        if not self.is_bound:
            return empty
        if not self.is_valid():
            # Keep whatever parsed; drop only the broken fields.
            return empty | {k: v for k, v in self.cleaned_data.items() if k not in self.errors}
        return empty | self.cleaned_data | {"q": self.cleaned_data["q"].strip()}


class CustomerForm(forms.ModelForm):
    """Create or edit a customer. Consent is a checkbox per channel; the service records the
    source ("portal") and time when it is given and clears them when it is withdrawn."""

    metadata = forms.CharField(
        label="Metadata (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}),
        help_text='A JSON object, e.g. {"tier": "gold", "visits": 3}. Leave empty for none.',
    )
    birthdate = forms.DateField(
        label="Birthdate",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": "Enter the birthdate as YYYY-MM-DD, e.g. 1990-04-23."},
    )
    # Plain text fields: the validators give the sentences (and normalise first, so a phone
    # written with spaces may be longer than the stored 20 characters).
    email = forms.CharField(
        label="Email",
        required=False,
        max_length=254,
        widget=forms.TextInput(attrs={"type": "email", "autocomplete": "off"}),
    )
    phone = forms.CharField(
        label="Phone",
        required=False,
        max_length=40,
        help_text=f"International form, e.g. {v.PHONE_EXAMPLE}. Spaces and dashes are fine.",
    )
    email_consent = forms.BooleanField(label="Agrees to marketing by email", required=False)
    sms_consent = forms.BooleanField(label="Agrees to marketing by SMS", required=False)

    class Meta:
        model = Customer
        fields = [*ATTRIBUTES, *CONSENT_FIELDS]
        labels = {"source_id": "Source ID", "address_line_1": "Address", "address_line_2": ""}
        help_texts = {
            "source_id": "Your own id for this customer (from your shop or CRM). Unique.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["address_line_2"].label = "Address (second line)"
        # Uniqueness is the service's check (with a sentence naming the other customer);
        # the model form's own check would say less.
        self._validate_unique = False
        if self.instance.pk and not self.is_bound:
            self.initial["metadata"] = (
                json.dumps(self.instance.metadata, indent=2, ensure_ascii=False)
                if self.instance.metadata
                else ""
            )

    def validate_unique(self) -> None:
        return

    def clean_source_id(self) -> str:
        return _problem(v.clean_source_id, self.cleaned_data.get("source_id") or "")

    def clean_name(self) -> str:
        return _problem(v.clean_text, self.cleaned_data.get("name") or "", "name", "The name")

    def clean_email(self) -> str:
        return _problem(v.clean_email, self.cleaned_data.get("email") or "")

    def clean_phone(self) -> str:
        return _problem(v.clean_phone, self.cleaned_data.get("phone") or "")

    def clean_birthdate(self) -> Any:
        return _problem(v.clean_birthdate, self.cleaned_data.get("birthdate"))

    def clean_metadata(self) -> dict[str, Any]:
        return _problem(v.clean_metadata, self.cleaned_data.get("metadata") or "")

    def _post_clean(self) -> None:
        # The model's own field validation (EmailField's validator on "" etc.) adds nothing
        # here; everything was checked above. Skipping it keeps one sentence per problem.
        return

    def data_for_service(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=(
            "UTF-8 text (Excel: “CSV UTF-8”), commas or semicolons between cells, a header row "
            f"naming the columns. At most {MAX_IMPORT_BYTES // (1024 * 1024)} MB."
        ),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size / (1024 * 1024):.1f} MB; at most "
                f"{MAX_IMPORT_BYTES // (1024 * 1024)} MB can be imported at once. Split it "
                "into smaller files."
            )
        try:
            self.text = decode_upload(upload.read())
            self.columns = read_header(self.text)
        except ImportFileError as exc:
            raise forms.ValidationError(exc.message) from None
        return upload


class ImportMappingForm(forms.Form):
    """One choice per CSV column (`col_<n>`, labelled with the column's name) and the field
    customers are matched on."""

    match_on = forms.ChoiceField(
        label="Match existing customers by",
        choices=MATCH_CHOICES,
        widget=forms.RadioSelect,
        help_text="A row whose source ID (or email) belongs to a customer updates that customer; "
        "other rows create new customers.",
    )

    def __init__(self, *args: Any, columns: list[str], initial_mapping: dict[str, str], **kw: Any):
        super().__init__(*args, **kw)
        self.columns = columns
        guessed = initial_mapping or guess_mapping(columns)
        for index, column in enumerate(columns):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=column, required=False, choices=FIELD_CHOICES, initial=guessed.get(column, "")
            )
        if "match_on" not in self.initial:
            targets = set(guessed.values())
            self.initial["match_on"] = (
                "source_id" if "source_id" in targets or "email" not in targets else "email"
            )

    def column_fields(self) -> list[tuple[str, forms.BoundField]]:
        return [(column, self[f"col_{i}"]) for i, column in enumerate(self.columns)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        mapping = {c: cleaned.get(f"col_{i}") or "" for i, c in enumerate(self.columns)}
        if not any(mapping.values()):
            raise forms.ValidationError("Map at least one column to a customer field.")
        for problem in mapping_problems(mapping, cleaned.get("match_on", "")):
            self.add_error(None, problem)
        cleaned["mapping"] = mapping
        return cleaned
