"""Identity: one email-login User in the public schema, and a Membership per partner."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone

from apps.core.models import user_reference


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True, is_brand_admin=True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Brand admins have `is_brand_admin`; partner users and merchants get their
    role per partner from Membership."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    is_brand_admin = models.BooleanField(
        default=False, help_text="Runs the brand console: partners, programs, allocations."
    )
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.full_name or self.email


class Membership(models.Model):
    """What a user is inside one partner."""

    class Role(models.TextChoices):
        PARTNER_USER = "partner_user", "Partner user"
        MERCHANT = "merchant", "Merchant"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    partner = models.ForeignKey(
        "tenancy.Partner", on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "partner"], name="membership_one_per_partner")
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.partner}"


class ApiKey(models.Model):
    """Credentials for the /v1 API. `app_id` (sent as X-App-Id) is public and indexed; the
    secret token (X-App-Token) is shown once and only its SHA-256 is stored: a random 256-bit
    token needs no slow hash, and lookup stays one indexed query. A key belongs to a partner
    and, for a merchant key, to one merchant of that partner (`merchant_id` in its schema)."""

    class Kind(models.TextChoices):
        PARTNER = "partner", "Partner key"
        MERCHANT = "merchant", "Merchant key"

    partner = models.ForeignKey("tenancy.Partner", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    merchant_id = models.BigIntegerField(null=True, blank=True)
    name = models.CharField(max_length=120, blank=True)
    app_id = models.CharField(max_length=40, unique=True)
    token_prefix = models.CharField(max_length=12)  # shown in lists to tell keys apart
    token_hash = models.CharField(max_length=64)
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="partner", merchant_id__isnull=True)
                | models.Q(kind="merchant", merchant_id__isnull=False),
                name="apikey_merchant_matches_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.app_id} ({self.get_kind_display()})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
