"""Brand console forms: partners, programs (discount, validity, code format) and allocations.
Every refusal is a sentence that says what to change."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from django import forms
from django.core.validators import MinValueValidator

from apps.brand.models import Program
from apps.brand.selectors import allocated_count
from apps.campaigns.codegen import (
    MAX_COUNT,
    Charset,
    CodeFormat,
    CodeFormatError,
    validate_format,
)
from apps.campaigns.models import CODE_FORMAT_FIELDS, WEEKDAYS, DiscountType
from apps.tenancy.models import Partner

FORMAT_FIELDS = CODE_FORMAT_FIELDS
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]


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


def code_format_of(data: dict[str, Any]) -> CodeFormat:
    return CodeFormat(
        length=data.get("code_length") or 0,
        charset=Charset(data.get("code_charset") or Charset.ALPHANUMERIC),
        custom_charset=data.get("code_custom_charset") or "",
        prefix=data.get("code_prefix") or "",
        postfix=data.get("code_postfix") or "",
        pattern=data.get("code_pattern") or "",
    )


def format_error_field(fmt: CodeFormat, exc: CodeFormatError) -> str:
    """The form field a CodeFormatError is about, so the sentence sits next to it."""
    if exc.key == "invalid_affix":
        try:
            validate_format(CodeFormat(prefix=fmt.prefix), count=1)
        except CodeFormatError:
            return "code_prefix"
        return "code_postfix"
    if exc.key == "invalid_charset":
        return "code_custom_charset" if fmt.charset == Charset.CUSTOM else "code_charset"
    if exc.key == "invalid_pattern" or fmt.pattern:
        return "code_pattern"
    return "code_length"


def capacity_text(fmt: CodeFormat) -> str:
    """How many codes the format can make, readable even when the number has 90 digits."""

    def readable(n: int) -> str:
        if n < 10**9:
            return f"{n:,}"
        exponent = len(str(n)) - 1
        superscript = str(exponent).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
        return f"about {n / 10**exponent:.1f} × 10{superscript}"

    capacity = fmt.capacity()
    return (
        f"{readable(capacity)} distinct codes; up to {readable(capacity // 2)} can be allocated "
        "(half, so that random codes rarely collide)."
    )


class CodeFormatForm(forms.Form):
    """The code-format fields alone, for the live preview."""

    code_length = forms.IntegerField(required=False)
    code_charset = forms.ChoiceField(choices=[(c.value, c.value) for c in Charset])
    code_custom_charset = forms.CharField(required=False, max_length=100)
    code_prefix = forms.CharField(required=False, max_length=20)
    code_postfix = forms.CharField(required=False, max_length=20)
    code_pattern = forms.CharField(required=False, max_length=64)


class ProgramForm(forms.ModelForm):
    """A program's terms. Fields that do not apply to the chosen discount type are emptied, so
    a program never carries a stale amount next to a percentage."""

    valid_days = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checkbox-list"}),
        label="Valid days of the week",
        help_text="Leave all unticked for every day.",
    )

    class Meta:
        model = Program
        fields = Program.TERM_FIELDS
        labels = {
            "amount_off": "Amount off (minor units)",
            "percent_off": "Percent off",
            "amount_limit": "Maximum discount (minor units)",
            "unit_off": "Free units",
            "unit_type": "Unit",
            "redemption_limit": "Redemptions per code",
            "start_date": "Valid from",
            "expiration_date": "Expires at",
            "valid_hours_start": "Daily from",
            "valid_hours_end": "Daily until",
            "active": "Active",
            "code_length": "Random characters",
            "code_charset": "Character set",
            "code_custom_charset": "Custom characters",
            "code_prefix": "Prefix",
            "code_postfix": "Postfix",
            "code_pattern": "Pattern",
        }
        help_texts = {
            "amount_off": "In the currency's smallest unit: 1050 means 10.50 off.",
            "percent_off": "More than 0 and at most 100.",
            "amount_limit": "Optional cap on a percent discount, in minor units.",
            "unit_off": "How many units the customer gets free.",
            "unit_type": "What the free unit is, e.g. “coffee”.",
            "redemption_limit": "1 means single use; leave empty for unlimited.",
            "start_date": "Leave empty to start at once.",
            "expiration_date": "Leave empty for no end.",
            "valid_hours_start": "Optional: both times or neither. A window may pass midnight.",
            "active": "Inactive programs' codes cannot be redeemed.",
            "code_length": "Used when there is no pattern: 4 to 64.",
            "code_charset": "The built-in sets leave out look-alikes (0/O, 1/I/L).",
            "code_custom_charset": "Only for the custom set: at least 2 of A-Z, 0-9, - and _.",
            "code_pattern": "Optional, e.g. SPRING-####-####: each # is a random character; "
            "the length is then ignored.",
        }
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "discount_type": forms.Select(),
            "start_date": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format=DATETIME_FORMATS[0]
            ),
            "expiration_date": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format=DATETIME_FORMATS[0]
            ),
            "valid_hours_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "valid_hours_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "code_prefix": forms.TextInput(attrs={"autocapitalize": "characters"}),
            "code_postfix": forms.TextInput(attrs={"autocapitalize": "characters"}),
            "code_pattern": forms.TextInput(
                attrs={"autocapitalize": "characters", "placeholder": "SPRING-####-####"}
            ),
        }

    def __init__(self, *args: Any, lock_format: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("start_date", "expiration_date"):
            cast(forms.DateTimeField, self.fields[name]).input_formats = DATETIME_FORMATS
        self.fields["redemption_limit"].validators.append(
            MinValueValidator(
                1, "A code must be usable at least once; leave the field empty for unlimited use."
            )
        )
        if lock_format:
            # Top-ups must match the codes already handed out (and the capacity check that
            # allowed them), so the format is frozen once a partner has codes.
            for name in FORMAT_FIELDS:
                self.fields[name].disabled = True
                self.fields[name].help_text = "Fixed: codes of this format were allocated already."

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        kind = data.get("discount_type")
        if kind == DiscountType.AMOUNT:
            if not data.get("amount_off"):
                self.add_error(
                    "amount_off", "An amount discount needs the amount off, e.g. 500 for 5.00."
                )
            data["percent_off"] = data["amount_limit"] = data["unit_off"] = None
            data["unit_type"] = ""
        elif kind == DiscountType.PERCENT:
            percent = data.get("percent_off")
            if percent is None or not Decimal(0) < percent <= Decimal(100):
                self.add_error(
                    "percent_off",
                    "A percent discount needs a percentage above 0 and at most 100.",
                )
            data["amount_off"] = data["unit_off"] = None
            data["unit_type"] = ""
        elif kind == DiscountType.UNIT:
            if not data.get("unit_off"):
                self.add_error("unit_off", "A free-units discount needs how many units, e.g. 1.")
            data["amount_off"] = data["percent_off"] = data["amount_limit"] = None
        start, end = data.get("start_date"), data.get("expiration_date")
        if start and end and end <= start:
            self.add_error("expiration_date", "The expiration must be after the start.")
        h_start, h_end = data.get("valid_hours_start"), data.get("valid_hours_end")
        if (h_start is None) != (h_end is None):
            missing = "valid_hours_end" if h_end is None else "valid_hours_start"
            self.add_error(missing, "Give both daily times (from and until) or leave both empty.")
        elif h_start is not None and h_start == h_end:
            self.add_error("valid_hours_end", "The daily window must not start and end together.")
        data["valid_days"] = sorted(set(data.get("valid_days") or []))
        self._clean_format(data)
        return data

    def _clean_format(self, data: dict[str, Any]) -> None:
        if any(name in self.errors for name in FORMAT_FIELDS):
            return
        for name in ("code_prefix", "code_postfix", "code_pattern", "code_custom_charset"):
            data[name] = (data.get(name) or "").strip()
        if data.get("code_charset") != Charset.CUSTOM:
            data["code_custom_charset"] = ""
        fmt = code_format_of(data)
        try:
            validate_format(fmt, count=1)
        except CodeFormatError as exc:
            self.add_error(format_error_field(fmt, exc), str(exc))


class AllocationForm(forms.Form):
    """Allocate N codes of a program to a partner. One of the two may be fixed by the page the
    form sits on (it is then a hidden input)."""

    program = forms.ModelChoiceField(
        queryset=Program.objects.order_by("name"),
        empty_label="Choose a program…",
        error_messages={"invalid_choice": "Choose one of the programs in the list."},
    )
    partner = forms.ModelChoiceField(
        queryset=Partner.objects.ready().order_by("name"),
        empty_label="Choose a partner…",
        help_text="Only partners whose set-up has finished are listed.",
        error_messages={"invalid_choice": "Choose one of the ready partners in the list."},
    )
    quantity = forms.IntegerField(
        label="Number of codes",
        min_value=1,
        max_value=MAX_COUNT,
        help_text=f"From 1 to {MAX_COUNT:,}. A second allocation to the same partner tops up "
        "its campaign.",
        error_messages={
            "required": "Enter how many codes to allocate.",
            "min_value": "Allocate at least 1 code.",
            "max_value": f"At most {MAX_COUNT:,} codes can be allocated at once; "
            "allocate a bigger pool in several steps.",
            "invalid": "Enter a whole number of codes, e.g. 1000.",
        },
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "min": 1, "max": MAX_COUNT}),
    )

    def __init__(self, *args: Any, fixed: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if fixed in ("program", "partner"):
            self.fields[fixed].widget = forms.HiddenInput()

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        program, partner, quantity = data.get("program"), data.get("partner"), data.get("quantity")
        if program and partner and quantity:
            existing = allocated_count(program=program, partner=partner)
            try:
                validate_format(program.code_format(), count=quantity, existing=existing)
            except CodeFormatError as exc:
                self.add_error("quantity", str(exc))
        return data
