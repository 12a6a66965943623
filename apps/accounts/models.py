"""Identity: one email-login User in the public schema, and a Membership per partner."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone


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
    REQUIRED_FIELDS: list[str] = []

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
