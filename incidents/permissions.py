"""Who may change what on an incident: the rule table, and nothing else decides it.

Visibility (who may know an incident exists) is ``selectors.incidents_visible_to``. Once an
incident is visible, what a person may do to it depends on their *standing* on that incident,
and ``RULES`` says which standings may take each action. Services enforce it (``require``),
views and templates read it (``case_permissions``) to offer only what will be accepted, and the
three "who may be picked" questions each have one queryset: ``lead_candidates``,
``assignable_users`` and, for the list filter, ``lead_filter_choices``.

Two things are called "lead" and must not be confused:
- the global role **incident lead** (``Role.LEAD``): who *may* be made an incident's lead;
- an incident's **lead** (``Incident.lead``): the one person leading that case.

Later capabilities add rows (actions) to ``RULES``; they never add a second table.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.models import LEADER_ROLES, WRITER_ROLES, Role, User

from .models import Incident, MemberRole, Membership, current_memberships


class Standing(StrEnum):
    """How an actor stands towards one incident (the table's columns)."""

    ADMIN = "admin"  # global administrator or superuser
    LEAD = "lead"  # the person in the incident's lead field
    RESPONDER = "responder"  # staff member working the case (membership role lead or responder)
    VENDOR = "vendor"  # vendor collaborator invited as a contributor (membership role responder)
    OBSERVER = "observer"  # member invited to read only (membership role observer), staff or vendor
    WRITER = "writer"  # responder, incident lead or integration who is not a member (unrestricted only)
    READER = "reader"  # anyone else who can see it: executives, outsiders without a writer role


class Action(StrEnum):
    """What may be done to an incident (the table's rows)."""

    CONTRIBUTE = "contribute"  # add findings and tasks
    EDIT = "edit"  # title, summary, category, detection time, personal data, records affected
    RAISE_SEVERITY = "raise_severity"
    LOWER_SEVERITY = "lower_severity"
    MANAGE_ACCESS = "manage_access"  # restricted flag, the incident's lead, members and their roles
    TRANSITION = "transition"  # change the status
    UPDATE_ANY_TASK = "update_any_task"  # change or tick any task
    UPDATE_OWN_TASK = "update_own_task"  # tick (done/undone) a task assigned to oneself
    BE_ASSIGNED = "be_assigned"  # be a task's assignee
    DOWNLOAD_EVIDENCE = "download_evidence"  # download evidence files and read text excerpts (audited)
    TRANSFER_EVIDENCE = "transfer_evidence"  # record a transfer of custody of an evidence item
    LEGAL_HOLD = "legal_hold"  # place or release a legal hold on the incident
    MANAGE_VENDORS = "manage_vendors"  # vendors' involvement (add, role, reference, remove) and their access items
    OVERRIDE_CONTAINMENT = "override_containment"  # mark contained while entry-point vendor access is active
    ANSWER_VENDOR_QUESTIONS = "answer_vendor_questions"  # answer a question to a vendor (their own company's)
    EDIT_TIMELINE = "edit_timeline"  # change any timeline event (one's own: CONTRIBUTE)
    IMPORT_TIMELINE = "import_timeline"  # import a CSV / JSON Lines file into the timeline
    ACKNOWLEDGE = "acknowledge"  # take the incident: stops its escalation (notifications.services)
    DECIDE_REGULATORY = "decide_regulatory"  # the register's decisions and the deadline clocks' starting events
    DRAFT_NOTICE = "draft_notice"  # draft and revise a regulatory notice
    APPROVE_NOTICE = "approve_notice"  # approve a notice's version (counsel sign-off)
    RECORD_NOTICE_SENT = "record_notice_sent"  # record an approved notice as sent (stops its clock)


S = Standing
# The rule table. Documented in docs/architecture.md and tested, written out, in
# tests/incidents/test_permissions.py.
RULES: dict[Action, frozenset[Standing]] = {
    Action.CONTRIBUTE: frozenset({S.ADMIN, S.LEAD, S.RESPONDER, S.VENDOR, S.WRITER}),
    Action.EDIT: frozenset({S.ADMIN, S.LEAD, S.RESPONDER}),
    Action.RAISE_SEVERITY: frozenset({S.ADMIN, S.LEAD, S.RESPONDER}),
    Action.LOWER_SEVERITY: frozenset({S.ADMIN, S.LEAD}),
    Action.MANAGE_ACCESS: frozenset({S.ADMIN, S.LEAD}),
    Action.TRANSITION: frozenset({S.ADMIN, S.LEAD, S.RESPONDER}),
    Action.UPDATE_ANY_TASK: frozenset({S.ADMIN, S.LEAD, S.RESPONDER}),
    Action.UPDATE_OWN_TASK: frozenset({S.ADMIN, S.LEAD, S.RESPONDER, S.VENDOR, S.WRITER}),
    Action.BE_ASSIGNED: frozenset({S.ADMIN, S.LEAD, S.RESPONDER, S.VENDOR, S.WRITER}),
    # Everyone who may see the incident but its readers: executives never get raw evidence
    # (design.md). What a vendor collaborator may download is further limited to shared evidence
    # (selectors.shared_with), like everything else they see.
    Action.DOWNLOAD_EVIDENCE: frozenset({S.ADMIN, S.LEAD, S.RESPONDER, S.VENDOR, S.OBSERVER, S.WRITER}),
    Action.TRANSFER_EVIDENCE: frozenset({S.ADMIN, S.LEAD, S.RESPONDER}),
    Action.LEGAL_HOLD: frozenset({S.ADMIN, S.LEAD}),
    # Which vendor was the entry point is what containment will be checked against (the
    # containment guard, issue 9): members working the case decide it, like the status. Not a
    # vendor collaborator (their company's own role), not a non-member writer.
    # Their access items too (add, fill from the registry, step): the containment checklist is
    # the case's record, kept by the people working it.
    Action.MANAGE_VENDORS: frozenset({S.ADMIN, S.LEAD, S.RESPONDER}),
    # Declaring containment while an entry-point vendor's access is still active is the lead's
    # call (or an admin's), with a recorded reason; responders move the status otherwise.
    Action.OVERRIDE_CONTAINMENT: frozenset({S.ADMIN, S.LEAD}),
    # Questions to a vendor are asked under MANAGE_VENDORS; answered by the vendor's collaborator
    # in the app, or recorded by the staff working the case when the answer came by mail. A
    # vendor collaborator answers only their own company's questions: they cannot even see
    # another vendor's involvement (vendors.selectors.involvements_for; the service checks again).
    Action.ANSWER_VENDOR_QUESTIONS: frozenset({S.ADMIN, S.LEAD, S.RESPONDER, S.VENDOR}),
    # Adding a timeline event is contributing (a vendor collaborator adds what they saw, a SOAR
    # tool posts its events); the people who may add one may change it again. Changing anyone's
    # event is the case members' call, like editing the incident; importing a whole log file
    # into the story too.
    Action.EDIT_TIMELINE: frozenset({S.ADMIN, S.LEAD, S.RESPONDER}),
    Action.IMPORT_TIMELINE: frozenset({S.ADMIN, S.LEAD, S.RESPONDER}),
    # Whoever is paged and may work the case takes it: its members working it, and on an
    # unrestricted incident any responder or lead (the on-call person a policy pages need not be
    # a member yet) or a SOAR's API key. Not executives, observers or vendor collaborators:
    # acknowledging says "someone of ours is on it".
    Action.ACKNOWLEDGE: frozenset({S.ADMIN, S.LEAD, S.RESPONDER, S.WRITER}),
    # The notification register (incidents/regulatory/): deciding whether a regime applies, when
    # its clock started, approving what is sent and recording it are the incident's lead's and
    # admins' — and counsel's, whatever their standing (COUNSEL_ACTIONS). Responders working the
    # case draft notices; nobody else touches the register.
    Action.DECIDE_REGULATORY: frozenset({S.ADMIN, S.LEAD}),
    Action.DRAFT_NOTICE: frozenset({S.ADMIN, S.LEAD, S.RESPONDER}),
    Action.APPROVE_NOTICE: frozenset({S.ADMIN, S.LEAD}),
    Action.RECORD_NOTICE_SENT: frozenset({S.ADMIN, S.LEAD}),
}

# Actions a person with the counsel permission (``User.counsel``) may take on any incident they
# can see, on top of their standing's row (a vendor collaborator never, whatever the flag says).
COUNSEL_ACTIONS = frozenset(
    {Action.DECIDE_REGULATORY, Action.DRAFT_NOTICE, Action.APPROVE_NOTICE, Action.RECORD_NOTICE_SENT}
)

# What each refusal tells the person (PermissionDenied → 403 / an error message).
REFUSALS: dict[Action, str] = {
    Action.CONTRIBUTE: "You may not add to this incident.",
    Action.EDIT: "Only members working this incident (its lead and responders) may change it.",
    Action.RAISE_SEVERITY: "Only members working this incident may raise its severity.",
    Action.LOWER_SEVERITY: "Only the incident's lead or an admin may lower its severity.",
    Action.MANAGE_ACCESS: "Only the incident's lead or an admin may change who can see and work on it.",
    Action.TRANSITION: "Only members working this incident (its lead and responders) may change its status.",
    Action.UPDATE_ANY_TASK: "You may only tick tasks assigned to you.",
    Action.UPDATE_OWN_TASK: "You may not change tasks on this incident.",
    Action.BE_ASSIGNED: "This person cannot be given tasks on this incident.",
    Action.DOWNLOAD_EVIDENCE: "You may not download evidence of this incident.",
    Action.TRANSFER_EVIDENCE: "Only members working this incident (its lead and responders) may transfer evidence.",
    Action.LEGAL_HOLD: "Only the incident's lead or an admin may place or release a legal hold.",
    Action.MANAGE_VENDORS: "Only members working this incident (its lead and responders) may change its vendors.",
    Action.OVERRIDE_CONTAINMENT: (
        "Only the incident's lead or an admin may mark it contained while vendor access is still active."
    ),
    Action.ANSWER_VENDOR_QUESTIONS: "Only the vendor's collaborator or members working this incident may answer.",
    Action.EDIT_TIMELINE: "You may only change timeline events you recorded.",
    Action.IMPORT_TIMELINE: "Only members working this incident (its lead and responders) may import a timeline.",
    Action.ACKNOWLEDGE: "Only responders and incident leads who may work this incident may acknowledge it.",
    Action.DECIDE_REGULATORY: "Only the incident's lead, an admin or counsel may decide on notification duties.",
    Action.DRAFT_NOTICE: "Only members working this incident or counsel may draft a notice.",
    Action.APPROVE_NOTICE: "Only the incident's lead, an admin or counsel may approve a notice.",
    Action.RECORD_NOTICE_SENT: "Only the incident's lead, an admin or counsel may record a notice as sent.",
}

# The vendor registry is global (no incident to stand on): by global role. Admins and incident
# leads maintain it; responders, executives and integrations read it; vendor collaborators never
# see it (a 404, as for anything not theirs).
REGISTRY_EDITOR_ROLES = frozenset({Role.ADMIN, Role.LEAD})

_UNKNOWN = object()


OPEN_REFUSAL = "Your role may not open incidents."


def may_open_incidents(user: User) -> bool:
    """Opening is global (there is no incident yet): writer roles only (else ``OPEN_REFUSAL``)."""
    return user.is_active and user.can_write


def may_see_vendor_registry(user: User) -> bool:
    """Everyone signed in but vendor collaborators (superusers always)."""
    return user.is_active and (user.is_superuser or user.role != Role.VENDOR)


def may_triage_alerts(user: User) -> bool:
    """The SIEM triage queue (``/alerts/``) is global, by role: admins, incident leads and
    responders (and superusers). Executives never see raw alert payloads; vendor collaborators
    and integrations never see the queue (a 404: they must not learn it exists)."""
    return user.is_active and (user.is_superuser or user.role in (Role.ADMIN, Role.LEAD, Role.RESPONDER))


def may_edit_vendor_registry(user: User) -> bool:
    """Admins and incident leads (and superusers) add and change vendors in the registry."""
    return user.is_active and (user.is_superuser or user.role in REGISTRY_EDITOR_ROLES)


def may_lead(user: User) -> bool:
    """The global role: only incident leads and admins may be made an incident's lead."""
    return user.is_active and (user.is_superuser or user.role in LEADER_ROLES)


def lead_candidates() -> QuerySet[User]:
    """Everyone ``may_lead`` accepts, as a queryset for forms, the API and the admin."""
    return User.objects.filter(is_active=True).filter(Q(role__in=LEADER_ROLES) | Q(is_superuser=True))


def membership_role_of(user: User, incident: Incident) -> str | None:
    """``user``'s membership role on ``incident`` (None if not a member), from the prefetched
    memberships when the caller loaded them (the detail page), else with one query."""
    cache = getattr(incident, "_prefetched_objects_cache", {})
    if "memberships" in cache:
        now = timezone.now()
        return next(
            (
                m.role
                for m in cache["memberships"]
                if m.user_id == user.pk and (m.expires_at is None or m.expires_at > now)
            ),
            None,
        )
    return current_memberships().filter(incident=incident, user=user).values_list("role", flat=True).first()


def standing(user: User, incident: Incident, membership_role: Any = _UNKNOWN) -> Standing:
    """Where ``user`` stands on ``incident``; pass ``membership_role`` when already known."""
    if user.sees_everything:
        return Standing.ADMIN
    if user.role == Role.EXECUTIVE:
        return Standing.READER  # executives read, whatever membership they were given
    if incident.lead_id is not None and incident.lead_id == user.pk:
        return Standing.LEAD
    if membership_role is _UNKNOWN:
        membership_role = membership_role_of(user, incident)
    if membership_role == MemberRole.OBSERVER:
        return Standing.OBSERVER
    if membership_role is not None:
        return Standing.VENDOR if user.role == Role.VENDOR else Standing.RESPONDER
    if user.role in WRITER_ROLES and not incident.restricted:
        return Standing.WRITER
    return Standing.READER


def _allowed(user: User, current: Standing, action: Action) -> bool:
    if not user.is_active:
        return False
    if action is Action.BE_ASSIGNED and user.role == Role.INTEGRATION:
        return False  # an API key's principal does no tasks, whatever its standing
    if action in COUNSEL_ACTIONS and user.counsel and user.role != Role.VENDOR:
        return True
    return current in RULES[action]


def may(user: User, action: Action, incident: Incident) -> bool:
    return _allowed(user, standing(user, incident), action)


def require(user: User, incident: Incident, *actions: Action) -> None:
    """Raise PermissionDenied, with the table's message for the first action refused, unless
    ``user`` may take every one of ``actions`` on ``incident`` (one standing lookup)."""
    current = standing(user, incident)
    for action in actions:
        if not _allowed(user, current, action):
            raise PermissionDenied(REFUSALS[action])


def case_permissions(user: User, incident: Incident) -> dict[str, bool]:
    """Every action, for templates: ``{% if can.transition %}``. One standing lookup."""
    current = standing(user, incident)
    return {action.value: _allowed(user, current, action) for action in RULES}


def assignable_users(*, incident: Incident) -> QuerySet[User]:
    """The people ``Action.BE_ASSIGNED`` accepts on ``incident``, as one queryset for the forms'
    choices: admins, its lead, members working it (not observers), and on an unrestricted
    incident any responder or incident lead who is not an observer there. Never executives or
    integrations. The service checks an assignee with ``may(…, BE_ASSIGNED, …)``, the table
    itself; tests/incidents/test_permissions.py pins that both give the same people."""
    people = User.objects.filter(is_active=True).exclude(role=Role.INTEGRATION)
    people = people.exclude(Q(role=Role.EXECUTIVE) & Q(is_superuser=False))
    on_incident = Membership.objects.filter(incident=incident, user=OuterRef("pk"))
    # EXISTS, not a join: OR-ing a join condition makes it a LEFT JOIN over every membership row
    # (68k at 20k incidents), de-duplicated with DISTINCT: 43 ms instead of 1.6 ms.
    working = Exists(on_incident.exclude(role=MemberRole.OBSERVER))
    allowed = Q(role=Role.ADMIN) | Q(is_superuser=True) | working
    if incident.lead_id is not None:
        allowed |= Q(pk=incident.lead_id)
    if not incident.restricted:
        observer = Exists(on_incident.filter(role=MemberRole.OBSERVER))
        allowed |= Q(role__in=[Role.LEAD, Role.RESPONDER]) & ~observer
    return people.filter(allowed)


def lead_filter_choices(*, viewer: User, visible: QuerySet[Incident]) -> QuerySet[User]:
    """People offered in the list's "Lead" filter: only what ``viewer`` may know. Staff know
    their colleagues who may lead; a vendor collaborator only the leads of incidents they see."""
    if viewer.role == Role.VENDOR and not viewer.sees_everything:
        return User.objects.filter(pk__in=visible.exclude(lead=None).values("lead_id"))
    return lead_candidates()


def member_candidates(*, incident: Incident) -> QuerySet[User]:
    """People who could be invited onto ``incident``: active people (not integrations) who are
    not members yet. Executives may join as observers only; the service says so."""
    already = Membership.objects.filter(incident=incident).values("user_id")
    return User.objects.filter(is_active=True).exclude(role=Role.INTEGRATION).exclude(pk__in=already)
