from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    ADMIN = "admin", "Administrator"
    LEAD = "lead", "Incident lead"
    RESPONDER = "responder", "Responder"
    EXECUTIVE = "executive", "Executive"
    VENDOR = "vendor", "Vendor collaborator"
    INTEGRATION = "integration", "Integration (API key)"


# Roles that may change incidents they can see; the others only read. Integrations are further
# limited by their API key's scopes.
WRITER_ROLES = frozenset({Role.ADMIN, Role.LEAD, Role.RESPONDER, Role.INTEGRATION})
# The global role "incident lead" (and admins): who may be made an incident's lead. Not to be
# confused with an incident's lead, the one person in Incident.lead (incidents.permissions).
LEADER_ROLES = frozenset({Role.ADMIN, Role.LEAD})


class User(AbstractUser):
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.RESPONDER)
    # A vendor collaborator's company. Optional (an invitation works without it), but only with it
    # do they see their own company's involvement on the incidents they are invited to
    # (incidents.vendors.selectors.involvements_for); it means nothing for other roles.
    vendor = models.ForeignKey(
        "incidents.Vendor", null=True, blank=True, on_delete=models.SET_NULL, related_name="collaborators",
        help_text="Vendor collaborators: the company they work for.",
    )  # fmt: skip

    # Counsel: reads privileged material and approves regulatory notices and decisions, on top of
    # their role (incidents.permissions.COUNSEL_ACTIONS).
    counsel = models.BooleanField(default=False, help_text="Counsel: approves regulatory notices and decisions.")

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def sees_everything(self) -> bool:
        """Admins (and Django superusers) see restricted incidents without being members."""
        return self.is_superuser or self.role == Role.ADMIN

    @property
    def can_write(self) -> bool:
        return self.is_superuser or self.role in WRITER_ROLES


class Scope(models.TextChoices):
    INCIDENTS_READ = "incidents:read", "Read incidents"
    INCIDENTS_WRITE = "incidents:write", "Create and change incidents"
    ALERTS_WRITE = "alerts:write", "Push SIEM alerts"


class APIKey(models.Model):
    """A credential for an integration. Only a SHA-256 digest of the key is stored.

    Keys are 256-bit random tokens, so a fast hash is enough (nothing to brute-force); the
    public ``prefix`` makes lookup an indexed equality match.
    """

    name = models.CharField(max_length=100)
    # The principal the key acts as: visibility and authorship follow this user.
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    prefix = models.CharField(max_length=12, unique=True)
    digest = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
