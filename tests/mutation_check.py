"""Break the rules on purpose and check the suite notices: a hand-written mutation run.

Each mutation below replaces one exact piece of source (it must occur exactly once) with a
broken version, the way a careless change would. For each, a copy of the working tree runs the
test suite (SQLite, no browser) and the mutation is *caught* when the suite goes red. Run by hand
(it is not collected by pytest; it takes about a minute per ten mutations on two cores):

    .venv/bin/python tests/mutation_check.py [--only SUBSTRING] [--json results.json]

Add a mutation for every rule you add. A mutation the suite survives is a missing test.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str


MUTATIONS = [
    # --- The rule table (incidents/permissions.py, accounts/models.py) ---------------------
    Mutation(
        "observers may contribute",
        "incidents/permissions.py",
        "Action.CONTRIBUTE: frozenset({S.ADMIN, S.LEAD, S.RESPONDER, S.VENDOR, S.WRITER}),",
        "Action.CONTRIBUTE: frozenset({S.ADMIN, S.LEAD, S.RESPONDER, S.VENDOR, S.WRITER, S.OBSERVER}),",
    ),
    Mutation(
        "non-member writers may edit",
        "incidents/permissions.py",
        "Action.EDIT: frozenset({S.ADMIN, S.LEAD, S.RESPONDER}),",
        "Action.EDIT: frozenset({S.ADMIN, S.LEAD, S.RESPONDER, S.WRITER}),",
    ),
    Mutation(
        "responders may lower severity",
        "incidents/permissions.py",
        "Action.LOWER_SEVERITY: frozenset({S.ADMIN, S.LEAD}),",
        "Action.LOWER_SEVERITY: frozenset({S.ADMIN, S.LEAD, S.RESPONDER}),",
    ),
    Mutation(
        "responders may not raise severity",
        "incidents/permissions.py",
        "Action.RAISE_SEVERITY: frozenset({S.ADMIN, S.LEAD, S.RESPONDER}),",
        "Action.RAISE_SEVERITY: frozenset({S.ADMIN, S.LEAD}),",
    ),
    Mutation(
        "responders may manage access",
        "incidents/permissions.py",
        "Action.MANAGE_ACCESS: frozenset({S.ADMIN, S.LEAD}),",
        "Action.MANAGE_ACCESS: frozenset({S.ADMIN, S.LEAD, S.RESPONDER}),",
    ),
    Mutation(
        "vendors may change the status",
        "incidents/permissions.py",
        "Action.TRANSITION: frozenset({S.ADMIN, S.LEAD, S.RESPONDER}),",
        "Action.TRANSITION: frozenset({S.ADMIN, S.LEAD, S.RESPONDER, S.VENDOR}),",
    ),
    Mutation(
        "vendors may change any task",
        "incidents/permissions.py",
        "Action.UPDATE_ANY_TASK: frozenset({S.ADMIN, S.LEAD, S.RESPONDER}),",
        "Action.UPDATE_ANY_TASK: frozenset({S.ADMIN, S.LEAD, S.RESPONDER, S.VENDOR}),",
    ),
    Mutation(
        "executives stand by their membership",
        "incidents/permissions.py",
        "    if user.role == Role.EXECUTIVE:\n        return Standing.READER",
        "    if False:\n        return Standing.READER",
    ),
    Mutation(
        "observer membership counts as working the case",
        "incidents/permissions.py",
        "    if membership_role == MemberRole.OBSERVER:\n        return Standing.OBSERVER",
        "    if False:\n        return Standing.OBSERVER",
    ),
    Mutation(
        "non-members write on restricted incidents",
        "incidents/permissions.py",
        "if user.role in WRITER_ROLES and not incident.restricted:",
        "if user.role in WRITER_ROLES:",
    ),
    Mutation(
        "responders may lead incidents",
        "accounts/models.py",
        "LEADER_ROLES = frozenset({Role.ADMIN, Role.LEAD})",
        "LEADER_ROLES = frozenset({Role.ADMIN, Role.LEAD, Role.RESPONDER})",
    ),
    Mutation(
        "vendor collaborators get the write role",
        "accounts/models.py",
        "WRITER_ROLES = frozenset({Role.ADMIN, Role.LEAD, Role.RESPONDER, Role.INTEGRATION})",
        "WRITER_ROLES = frozenset({Role.ADMIN, Role.LEAD, Role.RESPONDER, Role.INTEGRATION, Role.VENDOR})",
    ),
    Mutation(
        "executives are assignable",
        "incidents/permissions.py",
        "    people = people.exclude(Q(role=Role.EXECUTIVE) & Q(is_superuser=False))\n",
        "",
    ),
    Mutation(
        "observers are assignable",
        "incidents/permissions.py",
        "working = Exists(on_incident.exclude(role=MemberRole.OBSERVER))",
        "working = Exists(on_incident)",
    ),
    Mutation(
        "vendors see every possible lead in the filter",
        "incidents/permissions.py",
        "    if viewer.role == Role.VENDOR and not viewer.sees_everything:",
        "    if False:",
    ),
    # --- Visibility (incidents/selectors.py) ------------------------------------------------
    Mutation(
        "vendors see unrestricted incidents",
        "incidents/selectors.py",
        "    if user.role == Role.VENDOR:\n        return Incident.objects.filter(is_member)",
        "    if False:\n        return Incident.objects.filter(is_member)",
    ),
    Mutation(
        "restricted incidents visible to all",
        "incidents/selectors.py",
        "return Incident.objects.filter(Q(restricted=False) | is_member)",
        "return Incident.objects.all()",
    ),
    # --- Services (incidents/services.py) ----------------------------------------------------
    Mutation(
        "update writes no activity entry",
        "incidents/services.py",
        "        events.updated_event(incident=incident, actor=actor, changes=diff)\n",
        "",
    ),
    Mutation(
        "finding writes no activity entry",
        "incidents/services.py",
        "        events.finding_added_event(finding=finding, actor=author)\n",
        "",
    ),
    Mutation(
        "task_update may change any field",
        "incidents/services.py",
        'TASK_EDITABLE_FIELDS = ("title", "assignee", "due_on", "done", "status", "cancel_reason", "internal")',
        'TASK_EDITABLE_FIELDS = ("title", "assignee", "due_on", "done", "status", "cancel_reason", "internal", "incident",'
        ' "created_by", "done_at", "id")',
    ),
    Mutation(
        "failed containment keeps contained_at",
        "incidents/services.py",
        "        current.contained_at = None\n",
        "",
    ),
    Mutation(
        "lowering severity counted as raising",
        "incidents/services.py",
        "lowered = SEVERITY_RANK[new] > SEVERITY_RANK[old]",
        "lowered = SEVERITY_RANK[new] < SEVERITY_RANK[old]",
    ),
    Mutation(
        "no lead check on update",
        "incidents/services.py",
        '    if "lead" in diff:\n        _check_lead(candidate.lead)',
        "    if False:\n        _check_lead(candidate.lead)",
    ),
    Mutation(
        "update ignores the version",
        "incidents/services.py",
        "updated = Incident.objects.filter(pk=incident.pk, version=version).update(",
        "updated = Incident.objects.filter(pk=incident.pk).update(",
    ),
    Mutation(
        "integrations are not members of what they open",
        "incidents/services.py",
        "        roles.setdefault(opened_by, MemberRole.RESPONDER)",
        "        if opened_by.role != Role.INTEGRATION:\n            roles.setdefault(opened_by, MemberRole.RESPONDER)",
    ),
    Mutation(
        "anyone may add members",
        "incidents/services.py",
        "    require(actor, incident, Action.MANAGE_ACCESS)\n    _check_invited_role(role, user)\n    if not user.is_active",
        "    _check_invited_role(role, user)\n    if not user.is_active",
    ),
    Mutation(
        "assignee not checked",
        "incidents/services.py",
        "    if not may(assignee, Action.BE_ASSIGNED, incident):",
        "    if False:",
    ),
    # --- API, views, forms, admin ------------------------------------------------------------
    Mutation(
        "write-only keys read back the whole incident",
        "accounts/permissions.py",
        "    return scope is not None and key.has_scope(scope)",
        "    return True",
    ),
    Mutation(
        "unknown API fields are ignored",
        "config/serializers.py",
        "            if errors:\n                raise serializers.ValidationError(errors)",
        "            if False:\n                raise serializers.ValidationError(errors)",
    ),
    Mutation(
        "malformed browser version skips the lock",
        "incidents/views.py",
        "    if raw_version and not (raw_version.isascii() and raw_version.isdigit()):",
        "    if False:",
    ),
    Mutation(
        "responders' edit form may change lead and restricted",
        "incidents/forms.py",
        "                self.fields[name].disabled = True\n",
        "",
    ),
    Mutation(
        "activity deletable in the admin",
        "incidents/admin.py",
        "    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:\n        return False\n\n\nclass IncidentAdminForm",
        "    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:\n        return True\n\n\nclass IncidentAdminForm",
    ),
    Mutation(
        "a write-only key learns the current version from a 409",
        "config/api.py",
        "        if request is not None and view is not None and not may_read_back(request, view):",
        "        if False:",
    ),
    Mutation(
        "vendors see internal findings and tasks",
        "incidents/selectors.py",
        "    return queryset if sees_internal(viewer) else queryset.filter(internal=False)",
        "    return queryset",
    ),
    Mutation(
        "vendors see every member",
        "incidents/selectors.py",
        "    return queryset.filter(Q(user=viewer) | Q(role=MemberRole.LEAD))",
        "    return queryset",
    ),
    Mutation(
        "vendors may be assigned internal tasks",
        "incidents/services.py",
        "    if internal and not sees_internal(assignee):",
        "    if False:",
    ),
    Mutation(
        "content is shared by default on restricted incidents",
        "incidents/services.py",
        "    return incident.restricted if internal is None else internal",
        "    return False if internal is None else internal",
    ),
    Mutation(
        "tags are not lower-cased",
        "incidents/services.py",
        '        name = " ".join(value.split()).lower()',
        '        name = " ".join(value.split())',
    ),
    Mutation(
        "playbook tasks are not created",
        "incidents/services.py",
        "            for step in playbook.tasks.all():",
        "            for step in []:",
    ),
    Mutation(
        "stale admin form saves",
        "incidents/admin.py",
        "        if current is not None and current != version:",
        "        if False:",
    ),
    # --- Tasks and closing (incidents/services.py, selectors, API, templates) -----------------
    Mutation(
        "a new task may be due in the past",
        "incidents/services.py",
        "    _check_due_on(task.due_on)\n",
        "",
    ),
    Mutation(
        "a due date may be moved into the past",
        "incidents/services.py",
        '    if "due_on" in changing:\n        _check_due_on(changes["due_on"])\n',
        "",
    ),
    Mutation(
        "cancelling needs no reason",
        "incidents/services.py",
        "    if task.status == TaskStatus.CANCELLED and not task.cancel_reason:\n        raise",
        "    if False:\n        raise",
    ),
    Mutation(
        "assignees may cancel their own task",
        "incidents/services.py",
        'touches_cancelled = TaskStatus.CANCELLED in (task.status, changes.get("status")) and bool(changing)',
        "touches_cancelled = False",
    ),
    Mutation(
        "every task status move is recorded as a tick",
        "incidents/services.py",
        "if new_status == TaskStatus.DONE or (old_status, new_status) == (TaskStatus.DONE, TaskStatus.TODO):",
        "if True:",
    ),
    Mutation(
        "anyone may add task notes",
        "incidents/services.py",
        "    require(author, task.incident, Action.CONTRIBUTE)\n    if task.internal",
        "    if task.internal",
    ),
    Mutation(
        "my open tasks include cancelled ones",
        "incidents/selectors.py",
        "assignee=viewer, status__in=OPEN_TASK_STATUSES,",
        "assignee=viewer, done=False,",
    ),
    Mutation(
        "a transition closes without a resolution",
        "incidents/services.py",
        "        if to == Status.CLOSED:\n            raise ValidationError(",
        "        if False:\n            raise ValidationError(",
    ),
    Mutation(
        "a true positive closes without a summary",
        "incidents/services.py",
        "elif resolution == Resolution.TRUE_POSITIVE and not closing_summary:",
        "elif False:",
    ),
    Mutation(
        "a duplicate may name an incident the closer cannot see",
        "incidents/services.py",
        "original = incidents_visible_to(actor).select_related",
        "original = Incident.objects.select_related",
    ),
    Mutation(
        "duplicates may chain",
        "incidents/services.py",
        "            elif original.duplicate_of_id is not None:",
        "            elif False:",
    ),
    Mutation(
        "closing ignores open tasks",
        "incidents/services.py",
        "if open_task_rows and open_tasks not in OPEN_TASKS_CHOICES:",
        "if False:",
    ),
    Mutation(
        "reopening needs no reason",
        "incidents/services.py",
        '        if not reason:\n            raise ValidationError({"reason"',
        '        if False:\n            raise ValidationError({"reason"',
    ),
    Mutation(
        "reopening keeps the closing summary",
        "incidents/services.py",
        'current.resolution, current.closing_summary, current.duplicate_of = "", "", None',
        'current.resolution, current.duplicate_of = "", None',
    ),
    Mutation(
        "the primary button is not the forward move",
        "incidents/templatetags/incidents.py",
        "    Status.NEW: Status.TRIAGE,\n",
        "    Status.NEW: Status.INVESTIGATING,\n",
    ),
    Mutation(
        "the API list queries each duplicate's original",
        "incidents/api.py",
        '        incidents = incidents.annotate(duplicate_of_reference=F("duplicate_of__reference"))\n',
        "",
    ),
    # --- Evidence (incidents/evidence/, incidents/permissions.py) ------------------------------
    Mutation(
        "evidence: executives may download",
        "incidents/permissions.py",
        "Action.DOWNLOAD_EVIDENCE: frozenset({S.ADMIN, S.LEAD, S.RESPONDER, S.VENDOR, S.OBSERVER, S.WRITER}),",
        "Action.DOWNLOAD_EVIDENCE: frozenset({S.ADMIN, S.LEAD, S.RESPONDER, S.VENDOR, S.OBSERVER, S.WRITER, S.READER}),",
    ),
    Mutation(
        "evidence: vendors may transfer custody",
        "incidents/permissions.py",
        "Action.TRANSFER_EVIDENCE: frozenset({S.ADMIN, S.LEAD, S.RESPONDER}),",
        "Action.TRANSFER_EVIDENCE: frozenset({S.ADMIN, S.LEAD, S.RESPONDER, S.VENDOR}),",
    ),
    Mutation(
        "evidence: responders may place legal holds",
        "incidents/permissions.py",
        "Action.LEGAL_HOLD: frozenset({S.ADMIN, S.LEAD}),",
        "Action.LEGAL_HOLD: frozenset({S.ADMIN, S.LEAD, S.RESPONDER}),",
    ),
    Mutation(
        "evidence: vendors see internal evidence",
        "incidents/evidence/selectors.py",
        "    return shared_with(Evidence.objects.filter(incident=incident), viewer)\n",
        "    return Evidence.objects.filter(incident=incident)\n",
    ),
    Mutation(
        "evidence: the previous hash is not hashed",
        "incidents/evidence/custody.py",
        '        "prev": event.prev_hash,\n',
        "",
    ),
    Mutation(
        "evidence: events chain to the content, not the event before",
        "incidents/evidence/custody.py",
        "        prev_hash=head,\n",
        "        prev_hash=evidence.sha256,\n",
    ),
    Mutation(
        "evidence: the head is not kept",
        "incidents/evidence/custody.py",
        "    Evidence.objects.filter(pk=evidence.pk).update(custody_head=event.hash, custody_count=event.sequence)\n",
        "    Evidence.objects.filter(pk=evidence.pk).update(custody_count=event.sequence)\n",
    ),
    Mutation(
        "evidence: verify ignores changed files",
        "incidents/evidence/services.py",
        "    if digests.sha256 != evidence.sha256 or size != evidence.size:\n",
        "    if size != evidence.size:\n",
    ),
    Mutation(
        "evidence: a legal hold does not block the purge",
        "incidents/evidence/services.py",
        "        hold = legal_hold_active(current)\n        if hold is not None:\n            raise ValidationError(\n"
        '                f"{current.reference} is under legal hold',
        "        hold = None\n        if hold is not None:\n            raise ValidationError(\n"
        '                f"{current.reference} is under legal hold',
    ),
    Mutation(
        "evidence: downloads may render inline",
        "incidents/evidence/downloads.py",
        "    response = FileResponse(stored, as_attachment=True, filename=name, content_type=OCTET_STREAM)\n",
        "    response = FileResponse(stored, filename=name, content_type=evidence.content_type)\n",
    ),
    Mutation(
        "evidence: malware is sent as it is",
        "incidents/evidence/downloads.py",
        "    if evidence.malware:\n        return malware_zip_response(evidence)\n",
        "",
    ),
    Mutation(
        "evidence: an oversize file is kept",
        "incidents/evidence/uploads.py",
        "        if self._hashes.size + len(raw_data) > self.max_bytes:\n",
        "        if False:\n",
    ),
    Mutation(
        "evidence: files are read into memory to be hashed",
        "incidents/evidence/uploads.py",
        "    if digests is not None:\n        return digests, file.head, file.size\n",
        "    if digests is not None:\n        file.seek(0)\n        return hash_chunks([file.read()])\n",
    ),
]


# The fast part of the suite (no browser, no schemathesis): a mutation it misses is reported.
DEFAULT_TESTS = ["tests/incidents", "tests/accounts", "tests/test_authorization_matrix.py", "tests/test_no_leaks.py"]


def _pytest(tree: Path, tests: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not e2e", *tests],
        cwd=tree,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tree)},  # SQLite, eager Celery: no services needed
        timeout=900,
        check=False,
    )


def run(mutation: Mutation, tree: Path, tests: list[str]) -> tuple[bool, float, str]:
    target = tree / mutation.path
    original = target.read_text()
    if original.count(mutation.old) != 1:
        return False, 0.0, f"SKIPPED: the source to mutate occurs {original.count(mutation.old)} times"
    target.write_text(original.replace(mutation.old, mutation.new))
    started = time.monotonic()
    try:
        result = _pytest(tree, tests)
    finally:
        target.write_text(original)
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED") or line.startswith("ERROR")]
    return result.returncode != 0, time.monotonic() - started, failed[0] if failed else result.stdout[-200:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the mutations whose name contains this")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("tests", nargs="*", default=DEFAULT_TESTS, help="test paths to run for each mutation")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(".git", ".venv", "*.sqlite3", "media", "__pycache__"))
        baseline = _pytest(tree, args.tests)
        if baseline.returncode != 0:
            sys.exit(f"The suite is red before any mutation; fix it first:\n{baseline.stdout[-2000:]}")
        results = []
        for mutation in MUTATIONS:
            if args.only not in mutation.name:
                continue
            caught, seconds, evidence = run(mutation, tree, args.tests)
            results.append({"mutation": mutation.name, "caught": caught, "seconds": round(seconds, 1), "by": evidence})
            print(
                f"{'caught ' if caught else 'MISSED '} {mutation.name:55} {seconds:5.1f}s  {evidence[:110]}", flush=True
            )
    caught = sum(r["caught"] for r in results)
    print(f"\n{caught} of {len(results)} mutations caught")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    sys.exit(0 if caught == len(results) else 1)


if __name__ == "__main__":
    main()
