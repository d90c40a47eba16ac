"""The audit log: append-only, each entry chained to the one before it by a SHA-256 hash.

Every entry is written by ``audit_record``; ``manage.py verify_audit`` (``chain_problems``) walks
the chain and names what was edited, deleted or inserted behind the application's back.

The hash (the contract ``verify_audit`` and any outside verifier rely on)::

    hash = sha256_hex(prev_hash + canonical_json(fields))

- ``prev_hash``: the previous entry's ``hash`` (by id); the first entry's is 64 zeros (``GENESIS``).
- ``fields``: ``action``, ``actor`` (the user's id or null), ``actor_name``, ``at``, ``changes``,
  ``incident_reference``, ``ip`` (or null), ``object_id``, ``object_type``, ``summary``: what the
  row holds, after truncation to the column widths, so what is hashed is what is stored.
- ``canonical_json``: ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``,
  UTF-8 encoded; ``at`` as ISO 8601 in UTC with microseconds (``2026-03-01T09:30:00.000000+00:00``);
  ``changes`` as the JSON it is stored as (times inside it as ISO strings).

Appends are serialised: on PostgreSQL a transaction-scoped advisory lock (``CHAIN_LOCK``) is held
from reading the chain's head to the caller's commit, so two writers never chain onto the same
entry (a fork); on SQLite (development) the database's write lock does the same. An entry joins
the caller's transaction: a write that rolls back leaves no entry.

What the chain cannot show: the newest entries being deleted (the chain simply ends earlier).
``verify_audit`` prints the head's hash so it can be kept somewhere else (a SIEM receiving the
exports keeps it anyway).
"""

from __future__ import annotations

import contextvars
import hashlib
import ipaddress
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from .models import PERMISSION_FIELDS, AuditEntry, Role, User

if TYPE_CHECKING:
    from incidents.models import Activity, Evidence, Incident

GENESIS = "0" * 64
# pg_advisory_xact_lock's key for "appending to the audit chain": any constant no other code
# uses as an advisory lock key (b"bl-audit" as a big-endian integer).
CHAIN_LOCK = int.from_bytes(b"bl-audit", "big")
# A restricted incident's reads are recorded once per person per incident in this window.
READ_WINDOW = timedelta(minutes=15)

HASHED_FIELDS = (
    "action",
    "actor",
    "actor_name",
    "at",
    "changes",
    "incident_reference",
    "ip",
    "object_id",
    "object_type",
    "summary",
)


class AuditAction(models.TextChoices):
    """Every kind of entry (``AuditEntry.action``)."""

    WRITE = "write", "Write to a case"
    READ = "read", "Restricted incident read"
    DOWNLOAD = "download", "Evidence download"
    LOGIN = "login", "Login"
    LOGOUT = "logout", "Logout"
    LOGIN_FAILED = "login_failed", "Failed login"
    API_KEY_USED = "api_key_used", "API key used"
    API_KEY_CREATED = "api_key_created", "API key created"
    API_KEY_REVOKED = "api_key_revoked", "API key revoked"
    API_KEY_CHANGED = "api_key_changed", "API key changed"
    PERMISSION = "permission", "Permission change"
    AUDIT_EXPORT = "audit_export", "Audit log exported"
    ADMIN = "admin", "Admin site change"


# --- The request being served -----------------------------------------------------------------
# Set by AuditContextMiddleware so code that has no request in hand (signal receivers, activity
# constructors) still records who acted and from where.
_current_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("audit_request", default=None)


class AuditContextMiddleware:
    """Makes the request known to ``audit_record`` for its whole handling (place it after
    ``AuthenticationMiddleware``). Without it, entries made where no request is passed have no
    IP, and permission changes no actor."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)


def current_request() -> HttpRequest | None:
    return _current_request.get()


def request_user(request: HttpRequest | None) -> User | None:
    """The signed-in person making ``request``, or None (anonymous, no request)."""
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address by the app's one rule (``accounts.throttles.client_ip``:
    ``TRUSTED_PROXY_COUNT`` proxies' X-Forwarded-For, else ``REMOTE_ADDR``), the same address the
    login lockout counts by. Normalised as PostgreSQL's ``inet`` prints it, so the stored value
    is the hashed one; None when absent or not an address."""
    if request is None:
        return None
    from .throttles import client_ip as address_of  # axes and DRF: loaded only when needed

    try:
        return str(ipaddress.ip_address((address_of(request) or "").strip()))
    except ValueError:
        return None


# --- The chain --------------------------------------------------------------------------------
def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_json(fields: Mapping[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def hashed_fields(entry: AuditEntry) -> dict[str, Any]:
    """The part of ``entry`` its hash covers (see the module's docstring)."""
    return {
        "action": entry.action,
        "actor": entry.actor_id,
        "actor_name": entry.actor_name,
        "at": _iso(entry.at),
        "changes": entry.changes,
        "incident_reference": entry.incident_reference,
        "ip": entry.ip,
        "object_id": entry.object_id,
        "object_type": entry.object_type,
        "summary": entry.summary,
    }


def chain_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(fields)).encode("utf-8")).hexdigest()


def _lock_chain() -> None:
    # Held until the caller's transaction ends: the next writer reads the head only after this
    # entry is committed (READ COMMITTED takes a new snapshot per statement) or rolled back.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])


def _as_stored_json(value: Any) -> Any:
    # What a JSONField gives back: times, decimals and UUIDs as strings. Hashing this, not the
    # Python objects, keeps the hash recomputable from the row.
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _width(name: str) -> int:
    return AuditEntry._meta.get_field(name).max_length


def audit_record(
    *,
    action: str,
    actor: User | None = None,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    incident: Incident | None = None,
    summary: str = "",
    changes: Mapping[str, Any] | None = None,
    request: HttpRequest | None = None,
    actor_name: str | None = None,
) -> AuditEntry:
    """Append one entry to the chain and return it.

    ``obj`` fills ``object_type`` (``app.model``) and ``object_id``; ``incident`` (or ``obj``
    when it is an incident) the incident's reference. ``actor_name`` defaults to ``actor``'s
    username; a failed login gives the name typed, with no ``actor``. The IP is ``request``'s, else that of the
    request being served (``AuditContextMiddleware``), else none. Text longer than its column is
    cut. Joins the caller's transaction (costs three queries on PostgreSQL: lock, head,
    insert); raises whatever the insert raises."""
    entry = _entry(
        action=action,
        actor=actor,
        obj=obj,
        object_type=object_type,
        object_id=object_id,
        incident=incident,
        summary=summary,
        changes=changes,
        request=request,
        actor_name=actor_name,
    )
    # No savepoint: inside the caller's transaction a failed insert fails the caller's write.
    return _append([entry])[0]


def _entry(
    *,
    action: str,
    actor: User | None = None,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    incident: Incident | None = None,
    summary: str = "",
    changes: Mapping[str, Any] | None = None,
    request: HttpRequest | None = None,
    actor_name: str | None = None,
) -> AuditEntry:
    """An unsaved entry as ``audit_record`` describes it (``_append`` chains and inserts it)."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        if incident is None and obj._meta.label_lower == "incidents.incident":
            incident = obj  # type: ignore[assignment]
    return AuditEntry(
        actor=actor,
        actor_name=(actor_name if actor_name is not None else actor.get_username() if actor else "")[
            : _width("actor_name")
        ],
        action=action[: _width("action")],
        object_type=object_type[: _width("object_type")],
        object_id=str(object_id)[: _width("object_id")],
        incident_reference=(incident.reference if incident is not None else "")[: _width("incident_reference")],
        summary=" ".join(summary.split())[: _width("summary")],
        changes=_as_stored_json(dict(changes or {})),
        ip=client_ip(request if request is not None else current_request()),
    )


def _append(entries: list[AuditEntry]) -> list[AuditEntry]:
    """Chain ``entries`` (in order) onto the head and insert them: one lock, one head read and one
    insert whatever their number."""
    # No savepoint: inside the caller's transaction a failed insert fails the caller's write.
    with transaction.atomic(savepoint=False):
        _lock_chain()
        prev = AuditEntry.objects.order_by("-id").values_list("hash", flat=True).first() or GENESIS
        # Stamped under the lock, so the chain's times never go backwards.
        now = timezone.now()
        for entry in entries:
            entry.prev_hash, entry.at = prev, now
            entry.hash = prev = chain_hash(entry.prev_hash, hashed_fields(entry))
        if len(entries) == 1:
            entries[0].save(force_insert=True)
        else:
            AuditEntry.objects.bulk_create(entries)
    return entries


# --- Verification -----------------------------------------------------------------------------
def chain_problems(*, chunk_size: int = 2_000) -> Iterator[str]:
    """Walk the chain in id order and yield one line per problem: an entry whose hash does not
    match its contents (edited, or inserted with a made-up hash), an entry whose ``prev_hash``
    is not its predecessor's hash (entries deleted before it, or its predecessor inserted or
    rewritten). Reads the log in chunks: memory does not grow with it."""
    expected_prev, prev_id = GENESIS, None
    for entry in AuditEntry.objects.order_by("id").iterator(chunk_size=chunk_size):
        if chain_hash(entry.prev_hash, hashed_fields(entry)) != entry.hash:
            yield f"entry {entry.pk}: its hash does not match its contents (edited, or inserted with a forged hash)"
        if entry.prev_hash != expected_prev:
            yield _link_problem(entry, prev_id)
        expected_prev, prev_id = entry.hash, entry.pk


def _link_problem(entry: AuditEntry, prev_id: int | None) -> str:
    # Only on a problem: one indexed look-up tells a deletion from an insertion.
    pointed = AuditEntry.objects.filter(hash=entry.prev_hash).values_list("pk", flat=True).first()
    if prev_id is None:
        if pointed is None:
            return f"entry {entry.pk}: the chain does not start at it (entries before it were deleted)"
        return f"entry {entry.pk}: it is first but chains onto entry {pointed} (entries were reordered or inserted)"
    if pointed is None:
        return (
            f"entry {entry.pk}: prev_hash does not match entry {prev_id}'s hash and no entry has it "
            f"(the entry between them was deleted, or entry {prev_id} was edited and re-hashed)"
        )
    if pointed < prev_id:
        return (
            f"entry {entry.pk}: chains onto entry {pointed}, not entry {prev_id} "
            f"(entries after {pointed} up to {prev_id} were inserted)"
        )
    return f"entry {entry.pk}: chains onto entry {pointed}, which comes after it (entries were reordered)"


def chain_head() -> tuple[int, str]:
    """How many entries there are and the newest entry's hash (``GENESIS`` when none)."""
    count = AuditEntry.objects.count()
    head = AuditEntry.objects.order_by("-id").values_list("hash", flat=True).first() or GENESIS
    return count, head


# --- What is recorded -------------------------------------------------------------------------
def record_activity(activity: Activity) -> AuditEntry:
    """A write to a case: one entry per activity entry, with its data (old → new for changes)."""
    return record_activities([activity])[0]


def record_activities(activities: list[Activity]) -> list[AuditEntry]:
    """Writes to cases, one entry per activity entry with its data (old → new for changes), chained
    in one append: one for ``incidents.events._entry``, many for the escalation sweep's
    ``bulk_create``."""
    if not activities:
        return []
    entries = []
    for activity in activities:
        try:
            text = activity.text
        except (TypeError, ValueError, KeyError, AttributeError):
            # The sentence is a courtesy; the data (changes) is the record. A shape the sentence
            # does not expect must not fail the write it records.
            text = activity.get_verb_display().lower()
        entries.append(
            AuditEntry(
                actor=activity.actor,
                actor_name=(activity.actor.get_username() if activity.actor else "")[: _width("actor_name")],
                action=AuditAction.WRITE,
                object_type=activity._meta.label_lower,
                object_id=str(activity.pk),
                incident_reference=activity.incident.reference[: _width("incident_reference")],
                summary=" ".join(f"{activity.verb}: {text}".split())[: _width("summary")],
                changes=_as_stored_json(dict(activity.data or {})),
                ip=client_ip(current_request()),
            )
        )
    return _append(entries)


def record_download(*, request: HttpRequest, evidence: Evidence) -> AuditEntry:
    """An evidence download (recorded beside its ``access`` custody event)."""
    return audit_record(
        action=AuditAction.DOWNLOAD,
        actor=request_user(request),
        obj=evidence,
        incident=evidence.incident,
        summary=f"downloaded the evidence “{evidence.name}”",
        changes={"name": evidence.name, "sha256": evidence.sha256, "size": evidence.size},
        request=request,
    )


def _read_cache_key(user: User, incident: Incident) -> str:
    return f"audit:read:{user.pk}:{incident.pk}"


def record_restricted_read(*, request: HttpRequest, incident: Incident) -> AuditEntry | None:
    """A read of a restricted incident (its page, its API detail), by anyone, admins included:
    one entry per person per incident per ``READ_WINDOW``. Returns the entry, or None when the
    incident is not restricted or the read was already recorded in the window.

    The cache answers most repeats without a query; without the key (another worker's cache,
    an eviction, a restart) one indexed query on the latest such entry decides."""
    user = request_user(request)
    if not incident.restricted or user is None:
        return None
    key = _read_cache_key(user, incident)
    if cache.get(key):
        return None
    now = timezone.now()
    last = (
        AuditEntry.objects.filter(
            actor=user, action=AuditAction.READ, incident_reference=incident.reference, at__gt=now - READ_WINDOW
        )
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    if last is not None:
        cache.set(key, True, timeout=max(1, int((last + READ_WINDOW - now).total_seconds())))
        return None
    entry = audit_record(
        action=AuditAction.READ,
        actor=user,
        obj=incident,
        summary=f"read the restricted incident {incident.reference}",
        request=request,
    )
    # Only once the entry is committed: a rolled-back read must not silence the next one.
    transaction.on_commit(lambda: cache.set(key, True, timeout=int(READ_WINDOW.total_seconds())))
    return entry


# User fields whose change is a permission change: ``PERMISSION_FIELDS``, defined with the model
# (``accounts.models``) so its bulk ``update()`` records them too.
def permission_fields(user: User) -> dict[str, Any]:
    return {name: getattr(user, name) for name in PERMISSION_FIELDS}


def record_permission_change(
    *, user: User, before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> AuditEntry | None:
    """A person created, or their role / active / counsel / staff / superuser flags changed:
    ``changes`` is ``{field: {"old", "new"}}`` (``old`` null for a new account). The actor is
    whoever is signed in to the request being served (none from a shell or a task)."""
    entry = _permission_entry(user_id=user.pk, username=user.get_username(), before=before, after=after)
    return None if entry is None else _append([entry])[0]


def record_permission_changes(rows: list[tuple[int, str, Mapping[str, Any], Mapping[str, Any]]]) -> list[AuditEntry]:
    """Permission changes made by one bulk ``update()`` (``accounts.models.UserQuerySet``): one
    entry per ``(user id, username, before, after)`` that changed, chained in one append."""
    entries = [
        entry
        for user_id, username, before, after in rows
        if (entry := _permission_entry(user_id=user_id, username=username, before=before, after=after)) is not None
    ]
    return _append(entries) if entries else []


def _permission_entry(
    *, user_id: int, username: str, before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> AuditEntry | None:
    changed = {
        name: {"old": None if before is None else before[name], "new": after[name]}
        for name in PERMISSION_FIELDS
        if before is None or before[name] != after[name]
    }
    if before is not None and not changed:
        return None
    described = ", ".join(f"{name} {change['old']} → {change['new']}" for name, change in changed.items())
    summary = f"created {username} ({described})" if before is None else f"{username}: {described}"
    return _entry(
        action=AuditAction.PERMISSION,
        actor=request_user(current_request()),
        object_type=User._meta.label_lower,
        object_id=str(user_id),
        summary=summary,
        changes=changed,
    )


# --- Writes through the Django admin ------------------------------------------------------------
# Every admin add, change and delete leaves a LogEntry (``django.contrib.admin``); each becomes an
# ``admin`` entry (``record_admin_log``), with the old and new values of the fields the save
# changed (``admin_snapshot_before`` / ``admin_snapshot_after``, taken on pre/post_save while an
# admin request is served). Values that are secrets are recorded as a fingerprint, never as
# themselves: what changed is visible, the secret is not.
SECRET_FIELD_NAMES = frozenset({"password", "digest", "token_digest", "secret", "key", "token"})
# Per model, fields that carry a secret under an ordinary name (a Slack or Teams webhook URL
# holds its token).
SECRET_FIELDS_BY_MODEL = {"notifications.channel": frozenset({"target"})}
ADMIN_FLAGS = {1: "added", 2: "changed", 3: "deleted"}  # django.contrib.admin.models ADDITION…


def admin_request() -> HttpRequest | None:
    """The request being served when it is one of the admin site's pages, else None."""
    request = current_request()
    match = getattr(request, "resolver_match", None)
    return request if match is not None and match.app_name == "admin" else None


def _is_secret(model: type[models.Model], name: str) -> bool:
    return name in SECRET_FIELD_NAMES or name in SECRET_FIELDS_BY_MODEL.get(model._meta.label_lower, ())


def _shown(model: type[models.Model], name: str, value: Any) -> Any:
    if value is None:
        return None
    if _is_secret(model, name):
        return "sha256:" + hashlib.sha256(str(value).encode("utf-8")).hexdigest()[:12]
    if isinstance(value, bytes | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, models.fields.files.FieldFile):
        return value.name or None
    try:
        json.dumps(value, cls=DjangoJSONEncoder)
    except TypeError:  # a type JSON cannot hold (a range, a geometry): its text is the record
        return str(value)
    return value


def _stored_values(instance: models.Model) -> dict[str, Any]:
    model = type(instance)
    return {f.attname: _shown(model, f.attname, getattr(instance, f.attname)) for f in model._meta.concrete_fields}


def admin_snapshot_before(instance: models.Model) -> None:
    """On pre_save during an admin request: remember the stored row (one query) so the save's
    old → new can be recorded. Does nothing elsewhere, or for the audit log's own rows."""
    if admin_request() is None or instance.pk is None or isinstance(instance, AuditEntry):
        return
    model = type(instance)
    names = [f.attname for f in model._meta.concrete_fields]
    row = model._base_manager.using(instance._state.db).filter(pk=instance.pk).values(*names).first()
    instance._audit_admin_before = None if row is None else {n: _shown(model, n, v) for n, v in row.items()}


def admin_snapshot_after(instance: models.Model, created: bool) -> None:
    """On post_save during an admin request: keep the fields that changed (all, for a new row)
    on the request, until the LogEntry the admin writes next takes them (``record_admin_log``)."""
    request = admin_request()
    if request is None or isinstance(instance, AuditEntry) or instance._meta.label_lower == "admin.logentry":
        return
    before = instance.__dict__.pop("_audit_admin_before", None)
    if before is None and not created:
        return
    after = _stored_values(instance)
    changed = {
        name: {"old": None if before is None else before.get(name), "new": new}
        for name, new in after.items()
        if before is None or _as_stored_json(before.get(name)) != _as_stored_json(new)
    }
    if changed:
        pending = request.__dict__.setdefault("_audit_admin_changes", {})
        pending.setdefault(f"{instance._meta.label_lower}:{instance.pk}", {}).update(changed)


def record_admin_log(log_entries: list[Any]) -> list[AuditEntry]:
    """One ``admin`` entry per admin ``LogEntry`` (who, which object, added / changed / deleted,
    Django's change message), with the values the request's saves changed (for the logged
    object under ``fields``, for inlines saved with it under ``related``). Chained in one append."""
    request = current_request()
    pending: dict[str, dict[str, Any]] = getattr(request, "_audit_admin_changes", {}) if request else {}
    signed_in = request_user(request)
    entries = []
    for log in log_entries:
        content_type = log.content_type
        object_type = f"{content_type.app_label}.{content_type.model}" if content_type else ""
        flag = ADMIN_FLAGS.get(log.action_flag, str(log.action_flag))
        message = log.get_change_message()
        changes: dict[str, Any] = {"log_entry": log.pk, "action_flag": flag, "change_message": message}
        fields = pending.pop(f"{object_type}:{log.object_id}", None)
        if fields:
            changes["fields"] = fields
        if pending:
            changes["related"] = dict(pending)
            pending.clear()
        actor = signed_in if signed_in is not None and signed_in.pk == log.user_id else log.user
        entries.append(
            _entry(
                action=AuditAction.ADMIN,
                actor=actor,
                object_type=object_type,
                object_id=str(log.object_id or ""),
                summary=f"admin: {flag} {object_type} “{log.object_repr}”. {message}",
                changes=changes,
            )
        )
    if request is not None:
        request.__dict__.setdefault("_audit_admin_logged", set()).update(log.pk for log in log_entries)
    return _append(entries) if entries else []


def admin_log_recorded(request: HttpRequest) -> set[int]:
    """The LogEntry ids already recorded while serving ``request``."""
    return set(getattr(request, "_audit_admin_logged", ()))


# --- Who reads the log ------------------------------------------------------------------------
AUDIT_READER_ROLES = frozenset({Role.ADMIN, Role.AUDITOR})


def may_read_audit(user: Any) -> bool:
    """Auditors and admins (and superusers) browse and export the audit log; nobody else."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.is_superuser or user.role in AUDIT_READER_ROLES
