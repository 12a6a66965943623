"""Forms for signing in and for the partner switcher."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from apps.accounts import throttle


class ThrottledLoginForm(AuthenticationForm):
    """Email + password, refusing further attempts after repeated failures."""

    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an account. Check both and try "
        "again.",
        "locked": "Too many failed sign-in attempts. Wait %(minutes)d minutes, or reset your "
        "password.",
    }

    def clean(self) -> dict[str, Any]:
        email = (self.data.get("username") or "").strip().lower()
        address = throttle.client_address(self.request) if self.request else "unknown"
        if throttle.is_locked(email, address):
            raise forms.ValidationError(
                self.error_messages["locked"],
                code="locked",
                params={"minutes": max(1, throttle.retry_after() // 60)},
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            throttle.record_failure(email, address)
            raise
        throttle.reset(email, address)
        return cleaned
