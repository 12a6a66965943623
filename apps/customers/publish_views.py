"""The "Publish a code" form on the customer page: give this customer one free code of a
campaign, picked the same way as the API does (apps.customers.publications)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from apps.accounts import permissions as perms
from apps.campaigns.models import Campaign
from apps.campaigns.selectors import publishable_campaigns
from apps.core.errors import DomainError
from apps.core.permissions import capability
from apps.customers.models import Customer, Publication
from apps.customers.publications import voucher_publish

TEMPLATE = "customers/_publish_form.html"


class PublishForm(forms.Form):
    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.none(),
        empty_label="Choose a campaign",
        help_text="Only active campaigns with codes left are listed.",
        error_messages={
            "required": "Choose the campaign to give a code from.",
            "invalid_choice": "That campaign has no codes left to publish (or no longer "
            "exists); choose another one.",
        },
    )
    join_once = forms.BooleanField(
        required=False,
        initial=True,
        label="Only if this customer has no code of this campaign yet",
        help_text="When they already have one, it is shown again instead of a new code.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = publishable_campaigns()  # type: ignore[attr-defined]


def publish_context(customer: Customer, form: PublishForm | None = None) -> dict[str, Any]:
    form = form or PublishForm()
    return {
        "customer": customer,
        "publish_form": form,
        "has_campaigns": form.fields["campaign"].queryset.exists(),  # type: ignore[attr-defined]
    }


@capability(perms.AUDIENCE_MANAGE)
@require_POST
def customer_publish(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=customer_id)
    form = PublishForm(request.POST)
    if form.is_valid():
        campaign = form.cleaned_data["campaign"]
        held = set(
            Publication.objects.filter(campaign=campaign, customer=customer).values_list(
                "pk", flat=True
            )
        )
        try:
            publication = voucher_publish(
                campaign=campaign,
                customer=customer,
                channel="portal",
                join_once=form.cleaned_data["join_once"],
            )
        except DomainError as exc:
            form.add_error("campaign", exc.message)
        else:
            code = publication.voucher.code
            if publication.pk in held:
                messages.info(
                    request,
                    f"{customer} already has the code {code} of {campaign.name}; no new code "
                    "was given. Untick “Only if this customer has no code” to give another.",
                )
            else:
                messages.success(request, f"Gave {customer} the code {code} of {campaign.name}.")
            if getattr(request, "htmx", False):
                return HttpResponseClientRefresh()
            return redirect(reverse("customers:detail", args=[customer.pk]) + "#published-codes")
    if getattr(request, "htmx", False):
        # 200 so htmx swaps the form with its errors in place.
        return render(request, TEMPLATE, publish_context(customer, form))
    for errors in form.errors.values():
        for error in errors:  # an ErrorList yields its messages (str)
            messages.error(request, str(error))
    return redirect(reverse("customers:detail", args=[customer.pk]) + "#publish-code")
