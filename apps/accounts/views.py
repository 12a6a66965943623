"""Sign in and out, passwords, the landing redirect and the partner switcher."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy

from apps.accounts import permissions as perms
from apps.accounts import throttle
from apps.accounts.forms import ThrottledLoginForm
from apps.accounts.models import Membership
from apps.accounts.services import landing_url_for
from apps.core.permissions import AUTHENTICATED, PUBLIC, CapabilityMixin, capability


@capability(AUTHENTICATED)
def home(request: HttpRequest) -> HttpResponse:
    """Send each person to where their work is."""
    assert request.user.is_authenticated  # @capability(AUTHENTICATED) sent anyone else to sign in
    if request.user.is_brand_admin:
        return redirect("brand:dashboard")
    memberships = list(
        Membership.objects.filter(user=request.user, partner__status="ready").select_related(
            "partner"
        )
    )
    if len(memberships) == 1:
        return redirect(landing_url_for(memberships[0]))
    return redirect("accounts:partners")


@capability(AUTHENTICATED)
def partner_switcher(request: HttpRequest) -> HttpResponse:
    assert request.user.is_authenticated  # @capability(AUTHENTICATED) sent anyone else to sign in
    memberships = (
        Membership.objects.filter(user=request.user, partner__status="ready")
        .select_related("partner")
        .order_by("partner__name")
    )
    choices = [{"membership": m, "url": landing_url_for(m)} for m in memberships]
    return render(request, "accounts/partners.html", {"choices": choices})


class LoginView(CapabilityMixin, auth_views.LoginView):
    capability = PUBLIC
    form_class = ThrottledLoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_invalid(self, form: ThrottledLoginForm) -> HttpResponse:  # type: ignore[override]
        """A locked-out sign-in is a 429 with Retry-After (the form says what to do), so
        scripts and proxies see the throttle as what it is; a wrong password stays a 200."""
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "locked"):
            response.status_code = 429
            response["Retry-After"] = str(throttle.retry_after())
        return response


class LogoutView(CapabilityMixin, auth_views.LogoutView):
    capability = PUBLIC


class PasswordChangeView(CapabilityMixin, auth_views.PasswordChangeView):
    capability = AUTHENTICATED
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:password_change_done")


class PasswordChangeDoneView(CapabilityMixin, auth_views.PasswordChangeDoneView):
    capability = AUTHENTICATED
    template_name = "accounts/password_change_done.html"


class PasswordResetView(CapabilityMixin, auth_views.PasswordResetView):
    capability = PUBLIC
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")


class PasswordResetDoneView(CapabilityMixin, auth_views.PasswordResetDoneView):
    capability = PUBLIC
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(CapabilityMixin, auth_views.PasswordResetConfirmView):
    capability = PUBLIC
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")


class PasswordResetCompleteView(CapabilityMixin, auth_views.PasswordResetCompleteView):
    capability = PUBLIC
    template_name = "accounts/password_reset_complete.html"


@capability(perms.PORTAL_VIEW)
def portal_home(request: HttpRequest) -> HttpResponse:
    """The partner portal's overview: the partner and its people."""
    partner = request.tenant  # type: ignore[attr-defined]
    memberships = partner.memberships.select_related("user").order_by("role", "user__email")
    return render(request, "portal/home.html", {"partner": partner, "memberships": memberships})
