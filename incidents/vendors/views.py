"""Browser views: the registry (``/vendors/``: list, detail, add, edit) and the incident page's
vendors panel (add an involvement, change its role or reference, remove it). Thin: parse, call a
service or selector, answer.

Vendor collaborators never see the registry: every registry URL is a 404 for them, like an
incident they are not on. Registry writes are for admins and incident leads; others get the
pages without the buttons, and a 403 if they post anyway.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from .. import live
from .. import services as case_services
from .. import views as case_views
from ..forms import add_service_errors, form_error_messages
from ..models import Incident, Status, VendorTier
from ..permissions import Action, case_permissions, may, may_edit_vendor_registry, may_see_vendor_registry, require
from . import scope as scope_module
from . import selectors, services
from .containment import entry_point_active
from .forms import (
    AccessAddForm,
    AccessStepForm,
    ContainmentOverrideForm,
    InvolvementChangeForm,
    InvolvementForm,
    KnownAccessForm,
    QuestionAnswerForm,
    QuestionAskForm,
    ScopeAddForm,
    VendorForm,
)
from .panel import panel_context

VENDOR_PAGE_SIZE = 50


def _registry_or_404(request: HttpRequest) -> None:
    if not may_see_vendor_registry(request.user):
        raise Http404("No such page.")


@login_required
@require_safe
def vendor_list(request: HttpRequest) -> HttpResponse:
    """``GET /vendors/``: search (name, domain) and filters (tier, involved in open incidents)."""
    _registry_or_404(request)
    vendor_filter = selectors.vendor_filter(viewer=request.user, filters=request.GET)
    queryset = vendor_filter.qs if vendor_filter.is_valid() else vendor_filter.queryset
    page = Paginator(queryset, getattr(settings, "VENDOR_PAGE_SIZE", VENDOR_PAGE_SIZE)).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "vendors/list.html",
        {
            "filter": vendor_filter,
            "page": page,
            "tiers": VendorTier.choices,
            "selected_tiers": request.GET.getlist("tier"),
            "query": query.urlencode(),
            "can_edit": may_edit_vendor_registry(request.user),
        },
    )


@login_required
@require_safe
def vendor_detail(request: HttpRequest, vendor_id: int) -> HttpResponse:
    """``GET /vendors/<id>/``: the vendor and every incident the viewer may see it involved in."""
    return _detail_page(request, _vendor_or_404(request, vendor_id))


def _vendor_or_404(request: HttpRequest, vendor_id: int) -> Any:
    _registry_or_404(request)
    vendor = selectors.vendor_get(viewer=request.user, vendor_id=vendor_id)
    if vendor is None:
        raise Http404("No such vendor.")
    return vendor


def _detail_page(
    request: HttpRequest, vendor: Any, *, known_form: KnownAccessForm | None = None, status: int = 200
) -> HttpResponse:
    can_edit = may_edit_vendor_registry(request.user)
    return render(
        request,
        "vendors/detail.html",
        {
            "vendor": vendor,
            "involvements": selectors.vendor_incidents(viewer=request.user, vendor=vendor),
            "active_access": selectors.vendor_active_access(viewer=request.user, vendor=vendor),
            "known_access": selectors.known_access(vendor),
            "can_edit": can_edit,
            "known_form": known_form or (KnownAccessForm(auto_id="known-%s") if can_edit else None),
        },
        status=status,
    )


@login_required
@require_POST
def known_access_add(request: HttpRequest, vendor_id: int) -> HttpResponse:
    """``POST /vendors/<id>/known-access/``: record access the vendor is known to hold (registry
    editors), which incidents then copy into their inventory."""
    vendor = _vendor_or_404(request, vendor_id)
    if not may_edit_vendor_registry(request.user):
        raise PermissionDenied(services.REGISTRY_REFUSAL)
    form = KnownAccessForm(request.POST, auto_id="known-%s")
    if form.is_valid():
        try:
            known = services.known_access_add(vendor=vendor, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Recorded {known} as known access of {vendor.name}.")
            return redirect(vendor)
    return _detail_page(request, vendor, known_form=form, status=400)


@login_required
@require_safe
def open_access(request: HttpRequest) -> HttpResponse:
    """``GET /vendors/access/``: every active vendor access item on open incidents the viewer
    may see. 404 for vendor collaborators, like the rest of the registry."""
    _registry_or_404(request)
    return render(request, "vendors/access.html", {"items": selectors.open_access(request.user)})


def _form_page(request: HttpRequest, form: VendorForm, vendor: Any = None, status: int = 200) -> HttpResponse:
    return render(request, "vendors/form.html", {"form": form, "vendor": vendor}, status=status)


@login_required
@require_http_methods(case_views.FORM_METHODS)
def vendor_create(request: HttpRequest) -> HttpResponse:
    _registry_or_404(request)
    if not may_edit_vendor_registry(request.user):
        raise PermissionDenied(services.REGISTRY_REFUSAL)
    form = VendorForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if form.is_valid():
            try:
                vendor = services.vendor_create(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"Added {vendor.name} to the registry.")
                return redirect(vendor)
        return _form_page(request, form, status=400)
    return _form_page(request, form)


@login_required
@require_http_methods(case_views.FORM_METHODS)
def vendor_edit(request: HttpRequest, vendor_id: int) -> HttpResponse:
    _registry_or_404(request)
    vendor = selectors.vendor_get(viewer=request.user, vendor_id=vendor_id)
    if vendor is None:
        raise Http404("No such vendor.")
    if not may_edit_vendor_registry(request.user):
        raise PermissionDenied(services.REGISTRY_REFUSAL)
    form = VendorForm(request.POST if request.method == "POST" else None, initial=VendorForm.initial_for(vendor))
    if request.method == "POST":
        if form.is_valid():
            try:
                services.vendor_update(vendor=vendor, actor=request.user, data=form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"Saved {vendor.name}.")
                return redirect(vendor)
        return _form_page(request, form, vendor, status=400)
    return _form_page(request, form, vendor)


# --- The incident page's vendors panel ---------------------------------------------------------
def _panel(request: HttpRequest, incident: Incident, *, status: int = 200, **parts: Any) -> HttpResponse:
    context = {"incident": incident, "can": case_permissions(request.user, incident)}
    context.update(panel_context(request, incident, **parts))
    return render(request, "incidents/_vendors.html", context, status=status)


def _answer(
    request: HttpRequest, incident: Incident, *, saved: str | None, error: str = "", **parts: Any
) -> HttpResponseBase:
    """``saved`` is the success message; None when refused (``error``, or a form in ``parts``)."""
    if request.htmx:
        if saved is None:
            return _panel(request, incident, vendor_notice=error, **parts)
        response = _panel(request, incident, vendor_notice=saved)
        return live.with_updates(request, response, incident, changed="vendor")
    if saved is None:
        messages.error(request, error or "The vendor could not be added: see the form.")
        return redirect(incident)
    messages.success(request, saved)
    return redirect(incident)


@login_required
@require_POST
def involvement_add(request: HttpRequest, reference: str) -> HttpResponseBase:
    """``POST /incidents/<ref>/vendors/``: a vendor from the registry, its role and reference."""
    incident = case_views._visible_or_404(request.user, reference, needs=Action.MANAGE_VENDORS)
    form = InvolvementForm(request.POST, choices=selectors.vendor_choices(incident=incident))
    if form.is_valid():
        try:
            involvement = services.involvement_add(incident=incident, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            label = involvement.get_role_display().lower()
            return _answer(request, incident, saved=f"Added {involvement.vendor.name} as {label}.")
    error = " ".join(form_error_messages(form))
    return _answer(request, incident, saved=None, error=error, vendor_form=form)


@login_required
@require_safe
def involvement_choices(request: HttpRequest, reference: str) -> HttpResponse:
    """``GET /incidents/<ref>/vendors/choices/?q=``: the add form's radio list for what was typed
    (``selectors.vendor_choice_page``), for those who may add vendors to the incident."""
    incident = case_views._visible_or_404(request.user, reference, needs=Action.MANAGE_VENDORS)
    text = request.GET.get("q", "").replace("\x00", "").strip()[:200]
    page = selectors.vendor_choice_page(incident=incident, text=text)
    return render(request, "incidents/_vendor_choices.html", {"page": page, "text": text})


def _involvement_or_404(request: HttpRequest, reference: str, involvement_id: int, *, needs: Action) -> Any:
    """The involvement the viewer sees (else 404), then the rule for what the view does (else
    403), before the body is looked at: as ``incidents.views._visible_or_404`` with ``needs``."""
    involvement = selectors.involvement_get(viewer=request.user, reference=reference, involvement_id=involvement_id)
    if involvement is None:
        raise Http404("No such vendor on this incident.")
    require(request.user, involvement.incident, needs)
    return involvement


@login_required
@require_POST
def involvement_change(request: HttpRequest, reference: str, involvement_id: int) -> HttpResponseBase:
    """``POST /incidents/<ref>/vendors/<id>/``: a new role and/or vendor reference."""
    involvement = _involvement_or_404(request, reference, involvement_id, needs=Action.MANAGE_VENDORS)
    incident = involvement.incident
    form = InvolvementChangeForm(request.POST)
    if not form.is_valid():
        error = " ".join(form_error_messages(form))
        return _answer(request, incident, saved=None, error=error)
    try:
        changes = services.involvement_update(
            involvement=involvement, actor=request.user, data=form.changes(involvement)
        )
    except ValidationError as exc:
        return _answer(request, incident, saved=None, error=" ".join(exc.messages))
    if not changes:
        return _answer(request, incident, saved="Nothing changed.")
    return _answer(request, incident, saved=f"Saved {involvement.vendor.name}'s part in {incident.reference}.")


@login_required
@require_POST
def involvement_remove(request: HttpRequest, reference: str, involvement_id: int) -> HttpResponseBase:
    """``POST /incidents/<ref>/vendors/<id>/remove/``."""
    involvement = _involvement_or_404(request, reference, involvement_id, needs=Action.MANAGE_VENDORS)
    try:
        services.involvement_remove(involvement=involvement, actor=request.user)
    except ValidationError as exc:  # it still has access items: they are the containment record
        return _refused(request, involvement.incident, exc)
    return _answer(request, involvement.incident, saved=f"Removed {involvement.vendor.name} from this incident.")


# --- Access items (the panel's checklist) -------------------------------------------------------
def _refused(request: HttpRequest, incident: Incident, exc: ValidationError) -> HttpResponseBase:
    return _answer(request, incident, saved=None, error=" ".join(exc.messages))


@login_required
@require_POST
def access_add(request: HttpRequest, reference: str, involvement_id: int) -> HttpResponseBase:
    """``POST /incidents/<ref>/vendors/<id>/access/``: kind, system, identifier, privilege."""
    involvement = _involvement_or_404(request, reference, involvement_id, needs=Action.MANAGE_VENDORS)
    incident = involvement.incident
    form = AccessAddForm(request.POST)
    if not form.is_valid():
        error = " ".join(f"{name}: {m}" for name, ms in form.errors.items() for m in ms)
        return _answer(request, incident, saved=None, error=error)
    try:
        access = services.access_add(involvement=involvement, actor=request.user, **form.cleaned_data)
    except ValidationError as exc:
        return _refused(request, incident, exc)
    return _answer(request, incident, saved=f"Added {involvement.vendor.name}'s {access.label}.")


@login_required
@require_POST
def access_fill(request: HttpRequest, reference: str, involvement_id: int) -> HttpResponseBase:
    """``POST /incidents/<ref>/vendors/<id>/access/fill/``: copy the registry's known access."""
    involvement = _involvement_or_404(request, reference, involvement_id, needs=Action.MANAGE_VENDORS)
    added = services.access_fill_from_registry(involvement=involvement, actor=request.user)
    if not added:
        return _answer(request, involvement.incident, saved="Nothing to add: the registry's known access is listed.")
    noun = "item" if len(added) == 1 else "items"
    return _answer(request, involvement.incident, saved=f"Added {len(added)} access {noun} from the registry.")


@login_required
@require_POST
def access_step(request: HttpRequest, reference: str, involvement_id: int, access_id: int) -> HttpResponseBase:
    """``POST /incidents/<ref>/vendors/<id>/access/<access_id>/step/``: ``to``, ``note`` and,
    for verified unused, ``verified_unused_since``."""
    involvement = _involvement_or_404(request, reference, involvement_id, needs=Action.MANAGE_VENDORS)
    incident = involvement.incident
    access = selectors.access_get(viewer=request.user, involvement=involvement, access_id=access_id)
    if access is None:
        raise Http404("No such access item.")
    form = AccessStepForm(request.POST)
    if not form.is_valid():
        error = " ".join(f"{name}: {m}" for name, ms in form.errors.items() for m in ms)
        return _answer(request, incident, saved=None, error=error)
    try:
        services.access_step(access=access, actor=request.user, **form.cleaned_data)
    except ValidationError as exc:
        return _refused(request, incident, exc)
    state = access.get_state_display().lower()
    return _answer(request, incident, saved=f"{involvement.vendor.name}'s {access.label} is now {state}.")


# --- Questions to the vendor --------------------------------------------------------------------
def _form_error(form: Any) -> str:
    return " ".join(f"{name}: {m}" for name, ms in form.errors.items() for m in ms)


@login_required
@require_POST
def question_ask(request: HttpRequest, reference: str, involvement_id: int) -> HttpResponseBase:
    """``POST /incidents/<ref>/vendors/<id>/questions/``: ``question``, ``due_at``."""
    involvement = _involvement_or_404(request, reference, involvement_id, needs=Action.MANAGE_VENDORS)
    incident = involvement.incident
    form = QuestionAskForm(request.POST)
    if not form.is_valid():
        return _answer(request, incident, saved=None, error=_form_error(form))
    try:
        services.question_ask(involvement=involvement, actor=request.user, **form.cleaned_data)
    except ValidationError as exc:
        return _refused(request, incident, exc)
    return _answer(request, incident, saved=f"Asked {involvement.vendor.name}.")


@login_required
@require_POST
def question_answer(request: HttpRequest, reference: str, involvement_id: int, question_id: int) -> HttpResponseBase:
    """``POST /incidents/<ref>/vendors/<id>/questions/<question_id>/answer/``: ``answer``."""
    # A vendor collaborator answers only their own company's questions: they see no other
    # company's involvement (404 above), and the service checks again.
    involvement = _involvement_or_404(request, reference, involvement_id, needs=Action.ANSWER_VENDOR_QUESTIONS)
    incident = involvement.incident
    question = selectors.question_get(involvement=involvement, question_id=question_id)
    if question is None:
        raise Http404("No such question.")
    form = QuestionAnswerForm(request.POST)
    if not form.is_valid():
        return _answer(request, incident, saved=None, error=_form_error(form))
    try:
        services.question_answer(question=question, actor=request.user, **form.cleaned_data)
    except ValidationError as exc:
        return _refused(request, incident, exc)
    return _answer(request, incident, saved="Answer recorded.")


# --- Affected scope ----------------------------------------------------------------------------
def _scope_answer(request: HttpRequest, incident: Incident, *, saved: str | None, error: str = "") -> HttpResponseBase:
    if request.htmx:
        context = {"incident": incident, "can": case_permissions(request.user, incident)}
        context.update(scope_module.panel_context(request, incident, scope_notice=saved or error))
        response = render(request, "incidents/_scope.html", context)
        return live.with_updates(request, response, incident, changed="scope") if saved is not None else response
    if saved is None:
        messages.error(request, error)
    else:
        messages.success(request, saved)
    return redirect(incident)


@login_required
@require_POST
def scope_add(request: HttpRequest, reference: str) -> HttpResponseBase:
    """``POST /incidents/<ref>/scope/``: kind, name, owner, data categories, records, jurisdictions."""
    incident = case_views._visible_or_404(request.user, reference, needs=Action.EDIT)
    form = ScopeAddForm(request.POST)
    if not form.is_valid():
        return _scope_answer(request, incident, saved=None, error=_form_error(form))
    data = dict(form.cleaned_data)
    if not selectors.sees_internal(request.user):
        data["internal"] = None
    try:
        row = scope_module.scope_add(incident=incident, actor=request.user, **data)
    except ValidationError as exc:
        return _scope_answer(request, incident, saved=None, error=" ".join(exc.messages))
    return _scope_answer(request, incident, saved=f"Added {row}.")


@login_required
@require_POST
def scope_remove(request: HttpRequest, reference: str, scope_id: int) -> HttpResponseBase:
    """``POST /incidents/<ref>/scope/<id>/remove/``."""
    incident = case_views._visible_or_404(request.user, reference)
    row = scope_module.scope_get(viewer=request.user, incident=incident, scope_id=scope_id)
    if row is None:
        raise Http404("No such scope row.")
    require(request.user, incident, Action.EDIT)
    scope_module.scope_remove(scope=row, actor=request.user)
    return _scope_answer(request, incident, saved=f"Removed {row}.")


@login_required
@require_http_methods(case_views.FORM_METHODS)
def containment_override(request: HttpRequest, reference: str) -> HttpResponse:
    """``/incidents/<ref>/contain/``: where a refused move to contained lands. Lists the entry-point
    access still active and, for those who may override, asks why; the POST moves the incident
    with the reason recorded."""
    incident = case_views._visible_or_404(request.user, reference, needs=Action.TRANSITION)
    form = ContainmentOverrideForm(
        request.POST if request.method == "POST" else None, initial={"version": incident.version}
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                case_services.incident_transition(
                    incident=incident, to=Status.CONTAINED, actor=request.user, **form.cleaned_data
                )
            except case_services.ConflictError as exc:
                form.add_error(None, str(exc))
                status = 409
            except (ValidationError, PermissionDenied) as exc:
                form.add_error(None, exc.messages if isinstance(exc, ValidationError) else str(exc))
            else:
                messages.success(request, f"{incident.reference} is now contained (override recorded).")
                return redirect(incident)
    return render(
        request,
        "vendors/contain.html",
        {
            "incident": incident,
            "items": list(entry_point_active(incident)),
            "form": form,
            "may_override": may(request.user, Action.OVERRIDE_CONTAINMENT, incident),
        },
        status=status,
    )
