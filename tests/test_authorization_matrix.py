"""The authorization matrix: every route, by every method it accepts, every principal and each
situation, and the status each must get, written out below (never derived from the code it checks).

- Routes come from the resolver (tests/authz_walk.py): a route without a row here fails
  ``test_every_route_has_a_row``, so a new route cannot ship without a decision.
- Principals: nobody (``anon``); the personas (``admin``, ``lead`` — the global role; its "in"
  user leads both incidents —, ``responder``, ``counsel`` — a responder with the counsel
  permission —, ``executive``, ``auditor``, ``vendor`` — a vendor collaborator); and API keys of an
  integration user by scope (``key:read``, ``key:write`` = read+write, ``key:alerts``). On browser
  routes a key authenticates nothing: their ``keys`` row (walked with the read-and-write key) is
  anonymous's.
- Situations, the four columns of every grid: ``U_in`` an unrestricted incident the principal is
  a member of, ``U_out`` one they are not, ``R_in`` a restricted one they are a member of,
  ``R_out`` one they are not (tests/authz_world.py builds them, with one of every kind of content).
  Integration users are never members, so for keys ``in`` and ``out`` agree. Routes that name no
  incident use the same four columns (the principal in or out; ids, e.g. an alert's, taken from U
  or R).
- Each request has an empty body: a refusal must come before the body is read (404 for what one
  may not see, then 403 for what one may not do, then 400 for what is malformed), so an allowed
  principal gets 400 (or a form error: 200 / a redirect with the message) where a refused one
  gets 403. Writes are rolled back after each request.
- A grid row with one status means that status in all four columns.

Reading the grids: what differs between rows is the rule table (docs/architecture.md, "Rule
table") at work. A few things worth knowing when a cell surprises:
- ``vendor`` R_in is 404 on a task, indicator, scope item or timeline event: content of a
  restricted incident is internal by default, and a vendor collaborator never sees internal content.
- ``auditor`` and ``executive`` "in" are observer members: they read, never write.
- ``lead`` U_out / R_out is another incident lead, not the incident's lead: a writer on U, nothing
  on R.
"""

from __future__ import annotations

import pytest

from .authz_walk import METHODS, SITUATIONS, Principal, Route, routes, url_of
from .authz_world import KEYS, PERSONAS, World, build

pytestmark = pytest.mark.django_db

Grid = dict[str, tuple[int, ...]]

BROWSER_ROWS = ("anon", *PERSONAS, "keys")
API_ROWS = ("anon", *PERSONAS, *KEYS)


def grid(text: str) -> Grid:
    """Parse ``principal  s s s s`` lines (or ``principal  s``: all four the same)."""
    rows: Grid = {}
    for line in text.strip().splitlines():
        name, *cells = line.split()
        statuses = tuple(int(cell) for cell in cells)
        if len(statuses) == 1:
            statuses *= len(SITUATIONS)
        assert len(statuses) == len(SITUATIONS), f"{name}: {len(statuses)} statuses"
        rows[name] = statuses
    return rows


# fmt: off
# --- The grids: one per rule, named for it ------------------------------------------------------
# Open to anyone: health checks, and pages whose credential is in the URL (an invitation's or an
# acknowledgement link's token).
NO_SIGN_IN = grid("""
    anon       200
    admin      200
    lead       200
    responder  200
    counsel    200
    executive  200
    auditor    200
    vendor     200
    keys       200
""")

# The Django admin's front door: staff only (admins); everyone else is sent to its login.
DJANGO_ADMIN = grid("""
    anon       302
    admin      200
    lead       302
    responder  302
    counsel    302
    executive  302
    auditor    302
    vendor     302
    keys       302
""")

# The login page: signed-in people are sent on; a key is nobody, so it gets the page.
LOGIN = grid("""
    anon       200
    admin      302
    lead       302
    responder  302
    counsel    302
    executive  302
    auditor    302
    vendor     302
    keys       200
""")

# Redirects whoever asks: logging out, marking notifications read, an acknowledgement link's POST
# (it acts as the link's person, then shows the incident), and the second-factor pages for people
# without a device.
ALWAYS_REDIRECTED = grid("""
    anon       302
    admin      302
    lead       302
    responder  302
    counsel    302
    executive  302
    auditor    302
    vendor     302
    keys       302
""")

# The audit log and its export: auditors and admins; a 404 for everyone else, who must not learn its
# shape.
AUDIT_LOG = grid("""
    anon       302
    admin      200
    lead       404
    responder  404
    counsel    404
    executive  404
    auditor    200
    vendor     404
    keys       302
""")

# Home: every signed-in person's desk; an executive's is the dashboard (redirected there).
HOME = grid("""
    anon       302
    admin      200
    lead       200
    responder  200
    counsel    200
    executive  302
    auditor    200
    vendor     200
    keys       302
""")

# The executive dashboard: everyone signed in but vendor collaborators (404).
DASHBOARD = grid("""
    anon       302
    admin      200
    lead       200
    responder  200
    counsel    200
    executive  200
    auditor    200
    vendor     404
    keys       302
""")

# The dashboard's figures by API: as DASHBOARD, and keys that may read.
API_METRICS = grid("""
    anon       401
    admin      200
    lead       200
    responder  200
    counsel    200
    executive  200
    auditor    200
    vendor     404
    key:read   200
    key:write  200
    key:alerts 403
""")

# Any signed-in person: home, the incident list (filtered to what each may see), the inbox,
# enrolling a second factor.
SIGNED_IN = grid("""
    anon       302
    admin      200
    lead       200
    responder  200
    counsel    200
    executive  200
    auditor    200
    vendor     200
    keys       302
""")

# Any signed-in person, and the empty request is malformed (400): enrolment's confirmation without a
# code, the live polls without their token.
SIGNED_IN_BAD_REQUEST = grid("""
    anon       302
    admin      400
    lead       400
    responder  400
    counsel    400
    executive  400
    auditor    400
    vendor     400
    keys       302
""")

# Accepting an invitation: the token is the credential; an empty form is a 400.
TOKEN_FORM = grid("""
    anon       400
    admin      400
    lead       400
    responder  400
    counsel    400
    executive  400
    auditor    400
    vendor     400
    keys       400
""")

# Inviting a collaborator (manage access): the incident's lead and admins.
INVITE_PAGE = grid("""
    anon       302
    admin      200
    lead       200 403 200 404
    responder  403 403 403 404
    counsel    403 403 403 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     403 404 403 404
    keys       302
""")

# The invitation form posted empty: 400 for who may invite, 403 for who may not.
INVITE_POST = grid("""
    anon       302
    admin      400
    lead       400 403 400 404
    responder  403 403 403 404
    counsel    403 403 403 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     403 404 403 404
    keys       302
""")

# Manage access and legal hold (the incident's lead, admins): a redirect with the form's error for
# them, 403 for the rest who see it.
MANAGE_ACCESS_POST = grid("""
    anon       302
    admin      302
    lead       302 403 302 404
    responder  403 403 403 404
    counsel    403 403 403 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     403 404 403 404
    keys       302
""")

# The API's incident list: everyone signed in or with a read key, filtered to what they may see.
API_INCIDENT_LIST = grid("""
    anon       401
    admin      200
    lead       200
    responder  200
    counsel    200
    executive  200
    auditor    200
    vendor     200
    key:read   200
    key:write  200
    key:alerts 403
""")

# Opening an incident by API: writer roles and write keys (400 for the empty body); executives,
# auditors and vendor collaborators 403.
API_OPEN_INCIDENT = grid("""
    anon       401
    admin      400
    lead       400
    responder  400
    counsel    400
    executive  403
    auditor    403
    vendor     403
    key:read   403
    key:write  400
    key:alerts 403
""")

# Reading an incident and its shared content by API: who may see it; a vendor collaborator only
# their own incident; keys never a restricted one (integrations are never members).
API_CASE_READ = grid("""
    anon       401
    admin      200
    lead       200 200 200 404
    responder  200 200 200 404
    counsel    200 200 200 404
    executive  200 200 200 404
    auditor    200 200 200 404
    vendor     200 404 200 404
    key:read   200 200 404 404
    key:write  200 200 404 404
    key:alerts 403
""")

# Working the case by API (edit, status, vendors, custody transfer): its members working it and
# admins; a non-member writer (U_out) and write keys 403.
API_WORK = grid("""
    anon       401
    admin      400
    lead       400 403 400 404
    responder  400 403 400 404
    counsel    400 403 400 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     403 404 403 404
    key:read   403
    key:write  403 403 404 404
    key:alerts 403
""")

# Acknowledging by API: those who work it, and on an unrestricted incident any responder, lead or
# write key; not readers or vendors.
API_ACKNOWLEDGE = grid("""
    anon       401
    admin      200
    lead       200 200 200 404
    responder  200 200 200 404
    counsel    200 200 200 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     403 404 403 404
    key:read   403
    key:write  200 200 404 404
    key:alerts 403
""")

# Adding content by API: members, vendor collaborators on their incident, non-member writers and
# write keys on unrestricted ones (400: empty body); readers 403.
API_CONTRIBUTE = grid("""
    anon       401
    admin      400
    lead       400 400 400 404
    responder  400 400 400 404
    counsel    400 400 400 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     400 404 400 404
    key:read   403
    key:write  400 400 404 404
    key:alerts 403
""")

# Reading one task, indicator, scope row or timeline event by API: as API_CASE_READ, but R's content
# is internal, so the vendor collaborator gets 404 there.
API_INTERNAL_CHILD_READ = grid("""
    anon       401
    admin      200
    lead       200 200 200 404
    responder  200 200 200 404
    counsel    200 200 200 404
    executive  200 200 200 404
    auditor    200 200 200 404
    vendor     200 404 404 404
    key:read   200 200 404 404
    key:write  200 200 404 404
    key:alerts 403
""")

# Changing a task or timeline event someone else recorded: those working the case; a non-member
# writer may change only their own (403 here).
API_CHANGE_SOMEONES_CONTENT = grid("""
    anon       401
    admin      200
    lead       200 403 200 404
    responder  200 403 200 404
    counsel    200 403 200 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     403 404 404 404
    key:read   403
    key:write  403 403 404 404
    key:alerts 403
""")

# A note on a task: contributors, but R's task is internal (the vendor collaborator's 404).
API_TASK_NOTE = grid("""
    anon       401
    admin      400
    lead       400 400 400 404
    responder  400 400 400 404
    counsel    400 400 400 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     400 404 404 404
    key:read   403
    key:write  400 400 404 404
    key:alerts 403
""")

# Uploading evidence: contributors get 415 for a body that is not multipart; readers 403 whatever
# they send.
API_UPLOAD = grid("""
    anon       401
    admin      415
    lead       415 415 415 404
    responder  415 415 415 404
    counsel    415 415 415 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     415 404 415 404
    key:read   403
    key:write  415 415 404 404
    key:alerts 403
""")

# Downloading evidence: everyone who may see the incident but executives and non-member readers
# (auditor U_out); an observer member (auditor U_in) may.
API_DOWNLOAD = grid("""
    anon       401
    admin      200
    lead       200 200 200 404
    responder  200 200 200 404
    counsel    200 200 200 404
    executive  403 403 403 404
    auditor    200 403 200 404
    vendor     200 404 200 404
    key:read   200 200 404 404
    key:write  200 200 404 404
    key:alerts 403
""")

# Changing an indicator: contributors (R's indicator is internal: the vendor's 404).
API_INDICATOR_CHANGE = grid("""
    anon       401
    admin      200
    lead       200 200 200 404
    responder  200 200 200 404
    counsel    200 200 200 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     200 404 404 404
    key:read   403
    key:write  200 200 404 404
    key:alerts 403
""")

# Working the case with nothing to validate (an involvement PATCH with no field, filling access from
# the registry): 200 for those working it.
API_WORK_NO_BODY = grid("""
    anon       401
    admin      200
    lead       200 403 200 404
    responder  200 403 200 404
    counsel    200 403 200 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     403 404 403 404
    key:read   403
    key:write  403 403 404 404
    key:alerts 403
""")

# Answering a question to the vendor: those working the case and the vendor's own collaborator.
API_ANSWER_VENDOR = grid("""
    anon       401
    admin      400
    lead       400 403 400 404
    responder  400 403 400 404
    counsel    400 403 400 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     400 404 400 404
    key:read   403
    key:write  403 403 404 404
    key:alerts 403
""")

# Removing an affected-scope row: those working the case (R's row is internal: the vendor's 404).
API_SCOPE_DELETE = grid("""
    anon       401
    admin      204
    lead       204 403 204 404
    responder  204 403 204 404
    counsel    204 403 204 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     403 404 404 404
    key:read   403
    key:write  403 403 404 404
    key:alerts 403
""")

# The vendor registry by API: everyone but vendor collaborators (404) and alert-only keys.
API_REGISTRY_READ = grid("""
    anon       401
    admin      200
    lead       200
    responder  200
    counsel    200
    executive  200
    auditor    200
    vendor     404
    key:read   200
    key:write  200
    key:alerts 403
""")

# Adding to the registry: admins and incident leads; responders, readers and keys 403; vendor
# collaborators 404.
API_REGISTRY_ADD = grid("""
    anon       401
    admin      400
    lead       400
    responder  403
    counsel    403
    executive  403
    auditor    403
    vendor     404
    key:read   403
    key:write  403
    key:alerts 403
""")

# Changing a registry vendor: as API_REGISTRY_ADD (an empty PATCH changes nothing: 200).
API_REGISTRY_CHANGE = grid("""
    anon       401
    admin      200
    lead       200
    responder  403
    counsel    403
    executive  403
    auditor    403
    vendor     404
    key:read   403
    key:write  403
    key:alerts 403
""")

# Deleting a registry vendor: editors get 409 (it is involved in incidents), others as
# API_REGISTRY_ADD.
API_REGISTRY_DELETE = grid("""
    anon       401
    admin      409
    lead       409
    responder  403
    counsel    403
    executive  403
    auditor    403
    vendor     404
    key:read   403
    key:write  403
    key:alerts 403
""")

# Placing a legal hold by API: the incident's lead and admins.
API_LEGAL_HOLD = grid("""
    anon       401
    admin      400
    lead       400 403 400 404
    responder  403 403 403 404
    counsel    403 403 403 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     403 404 403 404
    key:read   403
    key:write  403 403 404 404
    key:alerts 403
""")

# Indicator lookup: anyone who may read (400 without a value).
API_LOOKUP = grid("""
    anon       401
    admin      400
    lead       400
    responder  400
    counsel    400
    executive  400
    auditor    400
    vendor     400
    key:read   400
    key:write  400
    key:alerts 403
""")

# Posting alerts: only a key with alerts:write (400 for the empty body); people and other keys 403.
API_ALERTS = grid("""
    anon       401
    admin      403
    lead       403
    responder  403
    counsel    403
    executive  403
    auditor    403
    vendor     403
    key:read   403
    key:write  403
    key:alerts 400
""")

# An ingest URL: the token in the URL is the credential, whoever else asks (400: empty body).
API_INGEST = grid("""
    anon       400
    admin      400
    lead       400
    responder  400
    counsel    400
    executive  400
    auditor    400
    vendor     400
    key:read   400
    key:write  400
    key:alerts 400
""")

# The API's schema and docs: public.
API_SCHEMA = grid("""
    anon       200
    admin      200
    lead       200
    responder  200
    counsel    200
    executive  200
    auditor    200
    vendor     200
    key:read   200
    key:write  200
    key:alerts 200
""")

# The notification register by API: who may see the incident, never vendor collaborators (404).
API_REGISTER_READ = grid("""
    anon       401
    admin      200
    lead       200 200 200 404
    responder  200 200 200 404
    counsel    200 200 200 404
    executive  200 200 200 404
    auditor    200 200 200 404
    vendor     404
    key:read   200 200 404 404
    key:write  200 200 404 404
    key:alerts 403
""")

# Register decisions, clocks, approving and recording a notice as sent: the incident's lead, admins
# and counsel (counsel whatever their standing).
API_COUNSEL_DECIDES = grid("""
    anon       401
    admin      400
    lead       400 403 400 404
    responder  403 403 403 404
    counsel    400 400 400 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     404
    key:read   403
    key:write  403 403 404 404
    key:alerts 403
""")

# Drafting and revising a notice: those working the case and counsel.
API_DRAFT_NOTICE = grid("""
    anon       401
    admin      400
    lead       400 403 400 404
    responder  400 403 400 404
    counsel    400 400 400 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     404
    key:read   403
    key:write  403 403 404 404
    key:alerts 403
""")

# Opening an incident in the browser: writer roles; executives, auditors and vendor collaborators
# 403 (the empty form re-rendered for the others).
OPEN_INCIDENT_PAGE = grid("""
    anon       302
    admin      200
    lead       200
    responder  200
    counsel    200
    executive  403
    auditor    403
    vendor     403
    keys       302
""")

# An incident's pages, exports, report and brief: who may see it; a vendor collaborator only their own.
CASE_READ = grid("""
    anon       302
    admin      200
    lead       200 200 200 404
    responder  200 200 200 404
    counsel    200 200 200 404
    executive  200 200 200 404
    auditor    200 200 200 404
    vendor     200 404 200 404
    keys       302
""")

# Edit, close, contain and import pages: those working the case (200, and the empty form re-rendered
# with its errors); a non-member writer 403.
WORK_PAGE = grid("""
    anon       302
    admin      200
    lead       200 403 200 404
    responder  200 403 200 404
    counsel    200 403 200 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     403 404 403 404
    keys       302
""")

# Working the case (status, custody, vendors and their access, scope, cancelling an import): a
# redirect with the form's error for those working it, 403 for other viewers.
WORK_POST = grid("""
    anon       302
    admin      302
    lead       302 403 302 404
    responder  302 403 302 404
    counsel    302 403 302 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     403 404 403 404
    keys       302
""")

# Adding a finding or task: contributors get a redirect with the form's error; readers 403.
CONTRIBUTE_POST = grid("""
    anon       302
    admin      302
    lead       302 302 302 404
    responder  302 302 302 404
    counsel    302 302 302 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     302 404 302 404
    keys       302
""")

# Ticking a task, removing a scope row: those working the case (a non-member may tick only their own
# task: 403); R's rows are internal (the vendor's 404).
INTERNAL_WORK_POST = grid("""
    anon       302
    admin      302
    lead       302 403 302 404
    responder  302 403 302 404
    counsel    302 403 302 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     403 404 404 404
    keys       302
""")

# A task's status or a note: contributors (a non-member writer may try: the service checks the task
# is theirs); R's task is internal.
TASK_POST = grid("""
    anon       302
    admin      302
    lead       302 302 302 404
    responder  302 302 302 404
    counsel    302 302 302 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     302 404 404 404
    keys       302
""")

# Adding evidence, indicators, timeline events: contributors get 400 with the form's errors; readers
# 403.
CONTRIBUTE_FORM = grid("""
    anon       302
    admin      400
    lead       400 400 400 404
    responder  400 400 400 404
    counsel    400 400 400 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     400 404 400 404
    keys       302
""")

# Downloading evidence in the browser: as API_DOWNLOAD.
DOWNLOAD = grid("""
    anon       302
    admin      200
    lead       200 200 200 404
    responder  200 200 200 404
    counsel    200 200 200 404
    executive  403 403 403 404
    auditor    200 403 200 404
    vendor     200 404 200 404
    keys       302
""")

# An incident's alerts' observables: those who may triage and see it; readers 403; vendor
# collaborators never see alerts (404).
ALERT_CANDIDATES = grid("""
    anon       302
    admin      200
    lead       200 200 200 404
    responder  200 200 200 404
    counsel    200 200 200 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     404
    keys       302
""")

# Editing an indicator: contributors (R's indicator is internal: the vendor's 404).
INDICATOR_EDIT_PAGE = grid("""
    anon       302
    admin      200
    lead       200 200 200 404
    responder  200 200 200 404
    counsel    200 200 200 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     200 404 404 404
    keys       302
""")

# As INDICATOR_EDIT_PAGE, posted empty: 400.
INDICATOR_EDIT_POST = grid("""
    anon       302
    admin      400
    lead       400 400 400 404
    responder  400 400 400 404
    counsel    400 400 400 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     400 404 404 404
    keys       302
""")

# The vendor registry pages: everyone signed in but vendor collaborators (404).
REGISTRY_PAGE = grid("""
    anon       302
    admin      200
    lead       200
    responder  200
    counsel    200
    executive  200
    auditor    200
    vendor     404
    keys       302
""")

# Containment override and timeline imports posted empty: 400 for those working the case, 403 for
# other viewers.
WORK_FORM = grid("""
    anon       302
    admin      400
    lead       400 403 400 404
    responder  400 403 400 404
    counsel    400 403 400 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     403 404 403 404
    keys       302
""")

# Answering a vendor question in the browser: as API_ANSWER_VENDOR.
ANSWER_VENDOR_POST = grid("""
    anon       302
    admin      302
    lead       302 403 302 404
    responder  302 403 302 404
    counsel    302 403 302 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     302 404 302 404
    keys       302
""")

# Adding or editing a registry vendor: admins and incident leads; other staff 403; vendor
# collaborators 404.
REGISTRY_EDIT_PAGE = grid("""
    anon       302
    admin      200
    lead       200
    responder  403
    counsel    403
    executive  403
    auditor    403
    vendor     404
    keys       302
""")

# As REGISTRY_EDIT_PAGE, posted empty: 400.
REGISTRY_EDIT_POST = grid("""
    anon       302
    admin      400
    lead       400
    responder  403
    counsel    403
    executive  403
    auditor    403
    vendor     404
    keys       302
""")

# As API_COUNSEL_DECIDES, in the browser.
COUNSEL_DECIDES_POST = grid("""
    anon       302
    admin      400
    lead       400 403 400 404
    responder  403 403 403 404
    counsel    400 400 400 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     404
    keys       302
""")

# Drafting a notice in the browser (a redirect to the new draft, or with the error): as
# API_DRAFT_NOTICE.
DRAFT_NOTICE_POST = grid("""
    anon       302
    admin      302
    lead       302 403 302 404
    responder  302 403 302 404
    counsel    302 302 302 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     404
    keys       302
""")

# A notice's page, versions and exports: who may see the incident, never vendor collaborators.
REGISTER_PAGE = grid("""
    anon       302
    admin      200
    lead       200 200 200 404
    responder  200 200 200 404
    counsel    200 200 200 404
    executive  200 200 200 404
    auditor    200 200 200 404
    vendor     404
    keys       302
""")

# Revising a notice: as API_DRAFT_NOTICE.
NOTICE_REVISE_POST = grid("""
    anon       302
    admin      400
    lead       400 403 400 404
    responder  400 403 400 404
    counsel    400 400 400 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     404
    keys       302
""")

# Editing a timeline event someone else recorded: those working the case; a non-member writer only
# their own (403); R's event is internal.
TIMELINE_EDIT_PAGE = grid("""
    anon       302
    admin      200
    lead       200 403 200 404
    responder  200 403 200 404
    counsel    200 403 200 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     403 404 404 404
    keys       302
""")

# As TIMELINE_EDIT_PAGE, posted empty: 400.
TIMELINE_EDIT_POST = grid("""
    anon       302
    admin      400
    lead       400 403 400 404
    responder  400 403 400 404
    counsel    400 403 400 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     403 404 404 404
    keys       302
""")

# The SIEM triage queue and an alert: admins, incident leads and responders; everyone else 404 (they
# must not learn it exists).
TRIAGE_PAGE = grid("""
    anon       302
    admin      200
    lead       200
    responder  200
    counsel    200
    executive  404
    auditor    404
    vendor     404
    keys       302
""")

# As TRIAGE_PAGE, posted empty: 400.
TRIAGE_POST = grid("""
    anon       302
    admin      400
    lead       400
    responder  400
    counsel    400
    executive  404
    auditor    404
    vendor     404
    keys       302
""")

# The notification bell: 200 signed in, 204 (nothing to draw) signed out.
BELL = grid("""
    anon       204
    admin      200
    lead       200
    responder  200
    counsel    200
    executive  200
    auditor    200
    vendor     200
    keys       204
""")

# The notification log and channels: admins and incident leads; others 404.
PAGING_ADMIN = grid("""
    anon       302
    admin      200
    lead       200
    responder  404
    counsel    404
    executive  404
    auditor    404
    vendor     404
    keys       302
""")

# Sending a channel a test: as PAGING_ADMIN.
CHANNEL_TEST = grid("""
    anon       302
    admin      302
    lead       302
    responder  404
    counsel    404
    executive  404
    auditor    404
    vendor     404
    keys       302
""")

# Acknowledging in the browser: as API_ACKNOWLEDGE.
ACKNOWLEDGE_POST = grid("""
    anon       302
    admin      302
    lead       302 302 302 404
    responder  302 302 302 404
    counsel    302 302 302 404
    executive  403 403 403 404
    auditor    403 403 403 404
    vendor     403 404 403 404
    keys       302
""")


# --- The routes: each accepted method and its grid ----------------------------------------------
MATRIX: dict[str, dict[str, Grid]] = {
    "healthz": {"GET": NO_SIGN_IN},
    "readyz": {"GET": NO_SIGN_IN},
    "admin:index": {"GET": DJANGO_ADMIN},
    "login": {"GET": LOGIN, "POST": LOGIN},
    "logout": {"POST": ALWAYS_REDIRECTED},
    "audit-log": {"GET": AUDIT_LOG},
    "audit-export": {"GET": AUDIT_LOG},
    "mfa-enrol": {"GET": SIGNED_IN, "POST": SIGNED_IN_BAD_REQUEST},
    "mfa-verify": {"GET": ALWAYS_REDIRECTED, "POST": ALWAYS_REDIRECTED},
    "mfa-recovery-codes": {"GET": ALWAYS_REDIRECTED, "POST": ALWAYS_REDIRECTED},
    "invitation-accept": {"GET": NO_SIGN_IN, "POST": TOKEN_FORM},
    "invite": {"GET": INVITE_PAGE, "POST": INVITE_POST},
    "invitation-revoke": {"POST": MANAGE_ACCESS_POST},
    "api:incident-list": {"GET": API_INCIDENT_LIST, "POST": API_OPEN_INCIDENT},
    "api:incident-detail": {"GET": API_CASE_READ, "PATCH": API_WORK},
    "api:incident-acknowledge": {"POST": API_ACKNOWLEDGE},
    "api:incident-close": {"POST": API_WORK},
    "api:incident-reopen": {"POST": API_WORK},
    "api:incident-transition": {"POST": API_WORK},
    "api:incident-finding-list": {"GET": API_CASE_READ, "POST": API_CONTRIBUTE},
    "api:incident-task-list": {"GET": API_CASE_READ, "POST": API_CONTRIBUTE},
    "api:incident-task-detail": {"GET": API_INTERNAL_CHILD_READ, "PATCH": API_CHANGE_SOMEONES_CONTENT},
    "api:incident-task-notes": {"GET": API_INTERNAL_CHILD_READ, "POST": API_TASK_NOTE},
    "api:incident-evidence-list": {"GET": API_CASE_READ, "POST": API_UPLOAD},
    "api:incident-evidence-manifest": {"GET": API_CASE_READ},
    "api:incident-evidence-text": {"POST": API_CONTRIBUTE},
    "api:incident-evidence-detail": {"GET": API_CASE_READ},
    "api:incident-evidence-custody": {"GET": API_CASE_READ},
    "api:incident-evidence-download": {"GET": API_DOWNLOAD},
    "api:incident-evidence-transfer": {"POST": API_WORK},
    "api:incident-indicator-list": {"GET": API_CASE_READ, "POST": API_CONTRIBUTE},
    "api:incident-indicator-bulk": {"POST": API_CONTRIBUTE},
    "api:incident-indicator-export-csv": {"GET": API_CASE_READ},
    "api:incident-indicator-export-stix": {"GET": API_CASE_READ},
    "api:incident-indicator-detail": {"GET": API_INTERNAL_CHILD_READ, "PATCH": API_INDICATOR_CHANGE},
    "api:incident-vendor-list": {"GET": API_CASE_READ, "POST": API_WORK},
    "api:incident-vendor-detail": {"GET": API_CASE_READ, "PATCH": API_WORK_NO_BODY, "DELETE": API_WORK},
    "api:incident-vendor-access-list": {"GET": API_CASE_READ, "POST": API_WORK},
    "api:incident-vendor-access-fill": {"POST": API_WORK_NO_BODY},
    "api:incident-vendor-access-detail": {"GET": API_CASE_READ},
    "api:incident-vendor-access-step": {"POST": API_WORK},
    "api:incident-vendor-question-list": {"GET": API_CASE_READ, "POST": API_WORK},
    "api:incident-vendor-question-detail": {"GET": API_CASE_READ},
    "api:incident-vendor-question-answer": {"POST": API_ANSWER_VENDOR},
    "api:incident-scope-list": {"GET": API_CASE_READ, "POST": API_WORK},
    "api:incident-scope-detail": {"GET": API_INTERNAL_CHILD_READ, "DELETE": API_SCOPE_DELETE},
    "api:incident-timeline-list": {"GET": API_CASE_READ, "POST": API_CONTRIBUTE},
    "api:incident-timeline-detail": {"GET": API_INTERNAL_CHILD_READ, "PATCH": API_CHANGE_SOMEONES_CONTENT},
    "api:vendor-known-access-list": {"GET": API_REGISTRY_READ, "POST": API_REGISTRY_ADD},
    "api:vendor-list": {"GET": API_REGISTRY_READ, "POST": API_REGISTRY_ADD},
    "api:vendor-detail": {"GET": API_REGISTRY_READ, "PATCH": API_REGISTRY_CHANGE, "DELETE": API_REGISTRY_DELETE},
    "api:legal-hold": {"GET": API_CASE_READ, "POST": API_LEGAL_HOLD},
    "api:indicator-lookup": {"GET": API_LOOKUP},
    "api:metrics": {"GET": API_METRICS},
    "api:alerts": {"POST": API_ALERTS},
    "api:alerts-native": {"POST": API_ALERTS},
    "api:ingest": {"POST": API_INGEST},
    "api:schema": {"GET": API_SCHEMA},
    "api:docs": {"GET": API_SCHEMA},
    "api:incident-register": {"GET": API_REGISTER_READ},
    "api:incident-register-decision": {"PUT": API_COUNSEL_DECIDES},
    "api:incident-clocks": {"GET": API_REGISTER_READ},
    "api:incident-clock": {"PUT": API_COUNSEL_DECIDES},
    "api:incident-notices": {"GET": API_REGISTER_READ, "POST": API_DRAFT_NOTICE},
    "api:incident-notice": {"GET": API_REGISTER_READ, "PATCH": API_DRAFT_NOTICE},
    "api:incident-notice-approve": {"POST": API_COUNSEL_DECIDES},
    "api:incident-notice-send": {"POST": API_COUNSEL_DECIDES},
    "api:incident-notice-export": {"GET": API_REGISTER_READ},
    "incidents:home": {"GET": HOME},
    "incidents:dashboard": {"GET": DASHBOARD},
    "incidents:list": {"GET": SIGNED_IN},
    "incidents:list-export": {"GET": SIGNED_IN},
    "incidents:create": {"GET": OPEN_INCIDENT_PAGE, "POST": OPEN_INCIDENT_PAGE},
    "incidents:list-live": {"GET": SIGNED_IN_BAD_REQUEST},
    "incidents:detail": {"GET": CASE_READ},
    "incidents:report": {"GET": CASE_READ},
    "incidents:report-pdf": {"GET": CASE_READ},
    "incidents:brief": {"GET": CASE_READ},
    "incidents:brief-pdf": {"GET": CASE_READ},
    "incidents:edit": {"GET": WORK_PAGE, "POST": WORK_PAGE},
    "incidents:live": {"GET": SIGNED_IN_BAD_REQUEST},
    "incidents:transition": {"POST": WORK_POST},
    "incidents:close": {"GET": WORK_PAGE, "POST": WORK_PAGE},
    "incidents:reopen": {"POST": WORK_POST},
    "incidents:finding-add": {"POST": CONTRIBUTE_POST},
    "incidents:task-add": {"POST": CONTRIBUTE_POST},
    "incidents:task-toggle": {"POST": INTERNAL_WORK_POST},
    "incidents:task-status": {"POST": TASK_POST},
    "incidents:task-note-add": {"POST": TASK_POST},
    "incidents:member-add": {"POST": MANAGE_ACCESS_POST},
    "incidents:member-role": {"POST": MANAGE_ACCESS_POST},
    "incidents:member-remove": {"POST": MANAGE_ACCESS_POST},
    "incidents:evidence-upload": {"POST": CONTRIBUTE_FORM},
    "incidents:evidence-text": {"POST": CONTRIBUTE_FORM},
    "incidents:evidence-manifest": {"GET": CASE_READ},
    "incidents:evidence-download": {"GET": DOWNLOAD},
    "incidents:evidence-transfer": {"POST": WORK_POST},
    "incidents:legal-hold": {"POST": MANAGE_ACCESS_POST},
    "incidents:indicator-add": {"POST": CONTRIBUTE_FORM},
    "incidents:indicator-extract": {"POST": CONTRIBUTE_FORM},
    "incidents:indicator-from-alerts": {"GET": ALERT_CANDIDATES},
    "incidents:indicator-confirm": {"POST": CONTRIBUTE_FORM},
    "incidents:indicator-edit": {"GET": INDICATOR_EDIT_PAGE, "POST": INDICATOR_EDIT_POST},
    "incidents:indicator-export": {"GET": CASE_READ},
    "incidents:vendor-list": {"GET": REGISTRY_PAGE},
    "incidents:vendor-open-access": {"GET": REGISTRY_PAGE},
    "incidents:contain": {"GET": WORK_PAGE, "POST": WORK_FORM},
    "incidents:vendor-access-add": {"POST": WORK_POST},
    "incidents:vendor-access-fill": {"POST": WORK_POST},
    "incidents:vendor-access-step": {"POST": WORK_POST},
    "incidents:vendor-question-ask": {"POST": WORK_POST},
    "incidents:vendor-question-answer": {"POST": ANSWER_VENDOR_POST},
    "incidents:scope-add": {"POST": WORK_POST},
    "incidents:scope-remove": {"POST": INTERNAL_WORK_POST},
    "incidents:vendor-create": {"GET": REGISTRY_EDIT_PAGE, "POST": REGISTRY_EDIT_POST},
    "incidents:vendor-detail": {"GET": REGISTRY_PAGE},
    "incidents:vendor-known-access": {"POST": REGISTRY_EDIT_POST},
    "incidents:vendor-edit": {"GET": REGISTRY_EDIT_PAGE, "POST": REGISTRY_EDIT_POST},
    "incidents:vendor-add": {"POST": WORK_POST},
    "incidents:vendor-choices": {"GET": WORK_PAGE},
    "incidents:vendor-involvement": {"POST": WORK_POST},
    "incidents:vendor-remove": {"POST": WORK_POST},
    "incidents:regulatory-decide": {"POST": COUNSEL_DECIDES_POST},
    "incidents:regulatory-clock": {"POST": COUNSEL_DECIDES_POST},
    "incidents:regulatory-notice-draft": {"POST": DRAFT_NOTICE_POST},
    "incidents:regulatory-notice": {"GET": REGISTER_PAGE, "POST": NOTICE_REVISE_POST},
    "incidents:regulatory-notice-version": {"GET": REGISTER_PAGE},
    "incidents:regulatory-notice-approve": {"POST": COUNSEL_DECIDES_POST},
    "incidents:regulatory-notice-send": {"POST": COUNSEL_DECIDES_POST},
    "incidents:regulatory-notice-export": {"GET": REGISTER_PAGE},
    "timeline:page": {"GET": CASE_READ},
    "timeline:key-events": {"GET": CASE_READ},
    "timeline:add": {"POST": CONTRIBUTE_FORM},
    "timeline:edit": {"GET": TIMELINE_EDIT_PAGE, "POST": TIMELINE_EDIT_POST},
    "timeline:import": {"GET": WORK_PAGE, "POST": WORK_FORM},
    "timeline:import-detail": {"GET": WORK_PAGE},
    "timeline:import-confirm": {"POST": WORK_FORM},
    "timeline:import-cancel": {"POST": WORK_POST},
    "timeline:export": {"GET": CASE_READ},
    "intake:queue": {"GET": TRIAGE_PAGE, "POST": TRIAGE_POST},
    "intake:detail": {"GET": TRIAGE_PAGE, "POST": TRIAGE_POST},
    "notifications:inbox": {"GET": SIGNED_IN},
    "notifications:bell": {"GET": BELL},
    "notifications:mark-read": {"POST": ALWAYS_REDIRECTED},
    "notifications:log": {"GET": PAGING_ADMIN},
    "notifications:channels": {"GET": PAGING_ADMIN},
    "notifications:channel-test": {"POST": CHANNEL_TEST},
    "notifications:acknowledge": {"POST": ACKNOWLEDGE_POST},
    "notifications:acknowledge-link": {"GET": NO_SIGN_IN, "POST": ALWAYS_REDIRECTED},
}
# fmt: on


# --- The walk -----------------------------------------------------------------------------------
@pytest.fixture
def world(settings, builtin_rows) -> World:
    settings.API_RATE_LIMIT = "1000000/s"
    settings.INTAKE_RATE_LIMIT = "1000000/s"
    return build()


def _expected_rows(route: Route) -> tuple[str, ...]:
    return API_ROWS if route.is_api else BROWSER_ROWS


def test_every_route_has_a_row() -> None:
    names = {route.name for route in routes()}
    assert sorted(names - MATRIX.keys()) == [], "routes without a row in the matrix"
    assert sorted(MATRIX.keys() - names) == [], "rows for routes that no longer exist"
    for route in routes():
        for method, rows in MATRIX[route.name].items():
            assert method in METHODS, (route.name, method)
            assert tuple(rows) == _expected_rows(route), (route.name, method, tuple(rows))


def _walk(world: World, column: str) -> list[str]:
    """Every route and accepted method as ``column``; the cells that differ from the table. The
    read-and-write key also walks the browser routes, as their ``keys`` row."""
    principals = {side: Principal(world, column, side) for side in ("in", "out")}
    wrong = []
    for route in routes():
        row = column if column in _expected_rows(route) else "keys" if column == "key:write" else None
        if row is None:
            continue
        for method, rows in MATRIX[route.name].items():
            got = []
            for situation in SITUATIONS:
                label, side = situation.split("_")
                got.append(principals[side].send(method, url_of(route, world.cases[label], world), route.is_api))
            if tuple(got) != rows[row]:
                wrong.append(f"{method} {route.name} as {row}: expected {rows[row]}, got {tuple(got)}")
    return wrong


@pytest.mark.parametrize("column", ["anon", *PERSONAS, *KEYS])
def test_the_matrix(world: World, column: str) -> None:
    assert _walk(world, column) == []


def test_other_methods_are_405(world: World) -> None:
    """A method a route does not list is refused as such, even to an admin on a visible incident."""
    admin = Principal(world, "admin", "in")
    wrong = []
    for route in routes():
        for method in METHODS:
            # The Django admin answers its own way; the login page sends a signed-in person on
            # whatever the method (an anonymous PUT is a 405).
            if method in MATRIX[route.name] or route.name in ("admin:index", "login"):
                continue
            status = admin.send(method, url_of(route, world.cases["U"], world), route.is_api)
            if status != 405:
                wrong.append(f"{method} {route.name}: {status}")
    assert wrong == []
