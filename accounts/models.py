from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models, transaction
from django.utils import timezone


class Role(models.TextChoices):
    ADMIN = "admin", "Administrator"
    LEAD = "lead", "Incident lead"
    RESPONDER = "responder", "Responder"
    EXECUTIVE = "executive", "Executive"
    VENDOR = "vendor", "Vendor collaborator"
    INTEGRATION = "integration", "Integration (API key)"
    AUDITOR = "auditor", "Auditor (read-only, audit log)"


# Roles that may change incidents they can see; the others only read. Integrations are further
# limited by their API key's scopes.
WRITER_ROLES = frozenset({Role.ADMIN, Role.LEAD, Role.RESPONDER, Role.INTEGRATION})
# The global role "incident lead" (and admins): who may be made an incident's lead. Not to be
# confused with an incident's lead, the one person in Incident.lead (incidents.permissions).
LEADER_ROLES = frozenset({Role.ADMIN, Role.LEAD})


# The fields whose change is a permission change (``accounts.audit.PERMISSION_FIELDS`` repeats
# them for the audit log; kept here so the queryset below needs no import of the audit module).
PERMISSION_FIELDS = ("role", "is_active", "counsel", "is_staff", "is_superuser")


class UserQuerySet(models.QuerySet):
    """A bulk ``update()`` that changes a permission field records one permission-change entry
    per person it changed, old → new, in the same transaction (``save()`` is recorded by the
    pre/post-save receivers in ``accounts.signals``; ``update()`` sends no signal). The rows are
    locked and read first, then updated by primary key: what is recorded is what changed.

    Costs three queries besides the audit append (lock-and-read, update, read back: the new
    values may be expressions such as ``F()`` or ``bulk_update``'s ``Case``); an update that
    touches no permission field costs what Django's does."""

    def update(self, **kwargs: Any) -> int:
        if not set(kwargs) & set(PERMISSION_FIELDS):
            return super().update(**kwargs)
        from . import audit  # the audit module imports this one

        names = ("pk", "username", *PERMISSION_FIELDS)
        with transaction.atomic(using=self.db, savepoint=False):
            before = {row["pk"]: row for row in self.select_for_update(of=("self",)).values(*names)}
            if not before:
                return 0
            plain = User._base_manager.using(self.db).filter(pk__in=before)
            count = models.QuerySet.update(plain, **kwargs)
            after = plain.values(*names)
            audit.record_permission_changes(
                [(row["pk"], row["username"], before[row["pk"]], row) for row in after.order_by("pk")]
            )
        return count

    update.alters_data = True  # type: ignore[attr-defined]


class UserManager(DjangoUserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    """Django's (``create_user``, ``create_superuser``…) over the audited queryset."""


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

    objects = UserManager()

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


class AuditQuerySet(models.QuerySet):
    """The audit log is append-only: rows are never changed or deleted through the ORM
    (``verify_audit`` detects what is done behind its back)."""

    def update(self, **kwargs):  # type: ignore[override]
        raise PermissionError("Audit entries are never changed.")

    def delete(self):  # type: ignore[override]
        raise PermissionError("Audit entries are never deleted.")


class AuditEntry(models.Model):
    """One thing that happened, who did it and from where, chained to the entry before it:
    ``hash`` = SHA-256 over the previous entry's hash and this entry's canonical JSON
    (``accounts.audit``). Written only by ``accounts.audit.audit_record``."""

    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=150, blank=True, help_text="The actor's username when it happened.")
    action = models.CharField(max_length=40)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    incident_reference = models.CharField(max_length=20, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            # The auditor's filters: by time, by person, by kind, by incident.
            models.Index(fields=["at"], name="audit_at_idx"),
            models.Index(fields=["actor", "at"], name="audit_actor_idx"),
            models.Index(fields=["action", "at"], name="audit_action_idx"),
            models.Index(fields=["incident_reference", "at"], name="audit_incident_idx"),
            # The audit page's "Person" filter: actor_name = %s [AND id < %s] ORDER BY id DESC
            # LIMIT 51 (and the export, in id order). It filters on the name as recorded, not the
            # actor's id, so audit_actor_idx does not serve it.
            models.Index(fields=["actor_name", "id"], name="audit_actor_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or '-'} {self.action}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise PermissionError("Audit entries are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit entries are never deleted.")


class Invitation(models.Model):
    """An outside person invited by e-mail to one incident, until ``access_expires_at``. The
    link carries a random token of which only the SHA-256 is kept; it works once, before
    ``link_expires_at``, to set a password and TOTP (``accounts.invitations``)."""

    email = models.EmailField()
    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, help_text="Membership role: observer (read) or responder (contribute).")
    vendor = models.ForeignKey("incidents.Vendor", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    token_digest = models.CharField(max_length=64, unique=True)
    link_expires_at = models.DateTimeField()
    access_expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="invitations")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} to {self.incident_id}"
