"""Questions to a vendor: asked by the members working the case (``manage_vendors``) with a due
time not in the past, answered by that vendor's own collaborator (the
``answer_vendor_questions`` row, cell by cell) or recorded by staff; another company's
collaborator gets a 404; open / answered / overdue derived with a pinned clock; the panel and
its queries; the API with its 400s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.models import Role, Scope
from incidents import services as case_services
from incidents.models import MemberRole, VendorQuestion, VendorRole
from incidents.permissions import Action, may
from incidents.vendors import services
from tests.factories import UserFactory
from tests.incidents.test_permissions import PERSONAS, REFUSED, allowed, case, entries_since, last_activity_id  # noqa: F401

pytestmark = pytest.mark.django_db

READ, WRITE = Scope.INCIDENTS_READ, Scope.INCIDENTS_WRITE
SOON = timedelta(days=2)


@pytest.fixture
def northwind(admin):
    return services.vendor_create(actor=admin, name="Northwind MSP", tier="critical")


@pytest.fixture
def contoso(admin):
    return services.vendor_create(actor=admin, name="Contoso Managed IT", tier="high")


@pytest.fixture
def entry(lead, incident, northwind):
    return services.involvement_add(incident=incident, vendor=northwind, actor=lead, role=VendorRole.ENTRY_POINT)


def ask(involvement, actor, text="Root cause?", due=SOON):
    return services.question_ask(involvement=involvement, actor=actor, question=text, due_at=timezone.now() + due)


def of_company(user, vendor):
    user.vendor = vendor
    user.save(update_fields=["vendor"])
    return user


# --- Asking ------------------------------------------------------------------------------------
def test_ask_records_who_when_and_an_internal_entry(lead, incident, entry):
    last = last_activity_id(incident)
    question = ask(entry, lead, "Other customers affected?")
    row = VendorQuestion.objects.get(pk=question.pk)
    assert (row.question, row.asked_by, row.answer, row.answered_at) == ("Other customers affected?", lead, "", None)
    assert row.status == "open"
    [(verb, actor, data)] = entries_since(incident, last)
    assert (verb, actor, data["vendor"], data["question"]) == (
        "vendor_question_asked", "lena", "Northwind MSP", "Other customers affected?",
    )  # fmt: skip
    from incidents.models import Activity

    assert Activity.objects.get(incident=incident, verb="vendor_question_asked").internal is True


def test_a_due_time_in_the_past_is_refused(lead, entry):
    with pytest.raises(ValidationError) as refused:
        ask(entry, lead, due=-timedelta(minutes=1))
    assert refused.value.message_dict == {"due_at": ["The due time cannot be in the past."]}
    assert not VendorQuestion.objects.exists()


def test_an_empty_question_is_refused(lead, entry):
    with pytest.raises(ValidationError) as refused:
        ask(entry, lead, "   ")
    assert list(refused.value.message_dict) == ["question"]


@pytest.mark.parametrize("persona", ["victor", "olga", "otto", "erin"])
def test_only_members_working_the_case_ask(case, northwind, persona):  # noqa: F811
    entry = services.involvement_add(incident=case.incident, vendor=northwind, actor=case["lena"])
    with pytest.raises(PermissionDenied):
        ask(entry, case[persona])


# --- Answering: the rule row, cell by cell -------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_answer_vendor_questions(case, northwind, persona):  # noqa: F811
    for name in ("victor", "vera"):
        of_company(case[name], northwind)  # both Northwind's: only the contributor may answer
    entry = services.involvement_add(incident=case.incident, vendor=northwind, actor=case["lena"])
    question = ask(entry, case["lena"])
    actor = case[persona]
    assert may(actor, Action.ANSWER_VENDOR_QUESTIONS, case.incident) is allowed("answer_vendor_questions", persona)
    if allowed("answer_vendor_questions", persona):
        services.question_answer(question=question, actor=actor, answer="Laptop infostealer.")
        row = VendorQuestion.objects.get(pk=question.pk)
        assert (row.answer, row.answered_by, row.status) == ("Laptop infostealer.", actor, "answered")
    else:
        with pytest.raises(PermissionDenied) as refused:
            services.question_answer(question=question, actor=actor, answer="x")
        assert str(refused.value) == REFUSED["answer_vendor_questions"]
        assert VendorQuestion.objects.get(pk=question.pk).answered_at is None


def test_answered_once(lead, vendor, restricted_incident, northwind):
    of_company(vendor, northwind)
    entry = services.involvement_add(incident=restricted_incident, vendor=northwind, actor=lead)
    question = ask(entry, lead)
    services.question_answer(question=question, actor=vendor, answer="First")
    with pytest.raises(ValidationError) as refused:
        services.question_answer(question=question, actor=lead, answer="Second")
    assert refused.value.message_dict == {"answer": ["This question is already answered."]}
    assert VendorQuestion.objects.get(pk=question.pk).answer == "First"


def test_another_companys_collaborator_is_refused_by_the_service(lead, vendor, restricted_incident, northwind, contoso):
    of_company(vendor, contoso)
    entry = services.involvement_add(incident=restricted_incident, vendor=northwind, actor=lead)
    question = ask(entry, lead)
    with pytest.raises(PermissionDenied):
        services.question_answer(question=question, actor=vendor, answer="Not ours")


class TestBrowser:
    def answer_url(self, incident, entry, question):
        return f"/incidents/{incident.reference}/vendors/{entry.pk}/questions/{question.pk}/answer/"

    def test_the_collaborator_answers_their_own_companys_question(
        self, login, lead, vendor, restricted_incident, northwind
    ):
        of_company(vendor, northwind)
        entry = services.involvement_add(incident=restricted_incident, vendor=northwind, actor=lead)
        question = ask(entry, lead, "Attestation?")
        client = login(vendor)
        page = client.get(restricted_incident.get_absolute_url()).content.decode()
        assert "Attestation?" in page and 'class="add-form question-answer-form"' in page
        assert "Ask Northwind MSP a question" not in page  # asking is the staff's
        response = client.post(self.answer_url(restricted_incident, entry, question), {"answer": "Attached."})
        assert response.status_code == 302
        assert VendorQuestion.objects.get(pk=question.pk).answered_by == vendor

    def test_another_companys_collaborator_gets_a_404(
        self, login, lead, vendor, restricted_incident, northwind, contoso
    ):
        of_company(vendor, contoso)
        entry = services.involvement_add(incident=restricted_incident, vendor=northwind, actor=lead)
        question = ask(entry, lead, "Attestation?")
        client = login(vendor)
        assert "Attestation?" not in client.get(restricted_incident.get_absolute_url()).content.decode()
        response = client.post(self.answer_url(restricted_incident, entry, question), {"answer": "Ours?"})
        assert response.status_code == 404
        assert VendorQuestion.objects.get(pk=question.pk).answered_at is None

    def test_a_reader_is_refused(self, login, lead, executive, incident, entry):
        question = ask(entry, lead)
        response = login(executive).post(self.answer_url(incident, entry, question), {"answer": "x"})
        assert response.status_code == 403
        assert VendorQuestion.objects.get(pk=question.pk).answered_at is None

    def test_staff_ask_through_the_panel(self, login, lead, incident, entry):
        due = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        client = login(lead)
        response = client.post(
            f"/incidents/{incident.reference}/vendors/{entry.pk}/questions/",
            {"question": "Their containment?", "due_at": due},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 200 and "Their containment?" in response.content.decode()
        past = (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        refused = client.post(
            f"/incidents/{incident.reference}/vendors/{entry.pk}/questions/",
            {"question": "Too late", "due_at": past},
            HTTP_HX_REQUEST="true",
        )
        assert "The due time cannot be in the past." in refused.content.decode()
        assert list(VendorQuestion.objects.values_list("question", flat=True)) == ["Their containment?"]

    @pytest.mark.parametrize("questions", [1, 5])
    def test_questions_add_one_query_whatever_their_number(
        self, login, lead, incident, entry, questions, django_assert_num_queries
    ):
        for n in range(questions):
            ask(entry, lead, f"Question {n}")
        # The page of tests/incidents/test_views.py (24) less the task notes (no tasks here) is
        # 23, plus 24 the vendors' access items and 25 their questions: one query each for all
        # the vendors on the incident, whatever the number of questions.
        client = login(lead)
        with django_assert_num_queries(25):
            body = client.get(incident.get_absolute_url()).content.decode()
        assert body.count('class="vendor-question"') == questions


# --- Open / answered / overdue, with a pinned clock ----------------------------------------------
def test_overdue_is_unanswered_past_due(monkeypatch, lead, vendor, restricted_incident, northwind):
    of_company(vendor, northwind)
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: t0)
    entry = services.involvement_add(incident=restricted_incident, vendor=northwind, actor=lead)
    a = ask(entry, lead, "A", due=timedelta(hours=24))  # due 3 Mar 09:00
    b = ask(entry, lead, "B", due=timedelta(hours=24))
    assert (a.status, b.status) == ("open", "open")
    monkeypatch.setattr(timezone, "now", lambda: t0 + timedelta(hours=23))
    services.question_answer(question=a, actor=vendor, answer="Done")
    monkeypatch.setattr(timezone, "now", lambda: t0 + timedelta(hours=24))
    assert VendorQuestion.objects.get(pk=b.pk).status == "open"  # due now: not yet past due
    monkeypatch.setattr(timezone, "now", lambda: t0 + timedelta(hours=24, seconds=1))
    rows = {q.question: q.status for q in VendorQuestion.objects.all()}
    assert rows == {"A": "answered", "B": "overdue"}


# --- API ---------------------------------------------------------------------------------------
def url(incident, entry, rest=""):
    return f"/api/v1/incidents/{incident.reference}/vendors/{entry.pk}/questions/{rest}"


def results(response):
    return response.data["results"] if isinstance(response.data, dict) else response.data


class TestApi:
    def test_ask_list_answer(self, api, lead, vendor, restricted_incident, northwind):
        of_company(vendor, northwind)
        entry = services.involvement_add(incident=restricted_incident, vendor=northwind, actor=lead)
        due = (timezone.now() + SOON).isoformat()
        created = api(READ, WRITE, user=lead).post(
            url(restricted_incident, entry), {"question": "Root cause?", "due_at": due}, format="json"
        )
        assert created.status_code == 201, created.data
        assert (created.data["status"], created.data["asked_by"]) == ("open", "lena")
        pk = created.data["id"]
        client = api(READ, WRITE, user=vendor)
        listed = results(client.get(url(restricted_incident, entry)))
        assert [(q["question"], q["asked_by"]) for q in listed] == [("Root cause?", None)]
        answered = client.post(url(restricted_incident, entry, f"{pk}/answer/"), {"answer": "Laptop"}, format="json")
        assert answered.status_code == 200
        assert (answered.data["status"], answered.data["answer"], answered.data["answered_by"]) == (
            "answered", "Laptop", "victor",
        )  # fmt: skip

    @pytest.mark.parametrize(
        "payload, field",
        [
            ({"question": "x", "due_at": "2001-01-01T00:00:00Z"}, "due_at"),
            ({"question": "x"}, "due_at"),
            ({"due_at": "2999-01-01T00:00:00Z"}, "question"),
            ({"question": "x", "due_at": "2999-01-01T00:00:00Z", "answer": "y"}, "answer"),
            ({"question": "x", "due_at": "not a date"}, "due_at"),
        ],
    )
    def test_bad_input_is_a_400(self, api, lead, incident, entry, payload, field):
        response = api(READ, WRITE, user=lead).post(url(incident, entry), payload, format="json")
        assert response.status_code == 400 and field in response.data

    def test_an_empty_or_second_answer_is_a_400(self, api, lead, incident, entry):
        question = ask(entry, lead)
        client = api(READ, WRITE, user=lead)
        assert client.post(url(incident, entry, f"{question.pk}/answer/"), {}, format="json").status_code == 400
        assert (
            client.post(url(incident, entry, f"{question.pk}/answer/"), {"answer": "a"}, format="json").status_code
            == 200
        )
        second = client.post(url(incident, entry, f"{question.pk}/answer/"), {"answer": "b"}, format="json")
        assert second.status_code == 400 and list(second.data) == ["answer"]

    def test_another_companys_collaborator_gets_404(self, api, lead, vendor, restricted_incident, northwind, contoso):
        of_company(vendor, contoso)
        entry = services.involvement_add(incident=restricted_incident, vendor=northwind, actor=lead)
        question = ask(entry, lead)
        client = api(READ, WRITE, user=vendor)
        assert client.get(url(restricted_incident, entry)).status_code == 404
        response = client.post(
            url(restricted_incident, entry, f"{question.pk}/answer/"), {"answer": "x"}, format="json"
        )
        assert response.status_code == 404

    def test_a_reader_may_not_answer_or_ask(self, api, lead, executive, incident, entry):
        question = ask(entry, lead)
        client = api(READ, WRITE, user=executive)
        assert (
            client.post(url(incident, entry, f"{question.pk}/answer/"), {"answer": "x"}, format="json").status_code
            == 403
        )
        due = (timezone.now() + SOON).isoformat()
        assert client.post(url(incident, entry), {"question": "q", "due_at": due}, format="json").status_code == 403


def test_a_collaborator_without_membership_sees_nothing(login, lead, incident, northwind):
    outsider_vendor = of_company(UserFactory(username="val", role=Role.VENDOR), northwind)
    entry = services.involvement_add(incident=incident, vendor=northwind, actor=lead)
    question = ask(entry, lead)
    response = login(outsider_vendor).post(
        f"/incidents/{incident.reference}/vendors/{entry.pk}/questions/{question.pk}/answer/", {"answer": "x"}
    )
    assert response.status_code == 404
    case_services.member_add(incident=incident, user=outsider_vendor, actor=lead, role=MemberRole.OBSERVER)
    assert (
        login(outsider_vendor)
        .post(f"/incidents/{incident.reference}/vendors/{entry.pk}/questions/{question.pk}/answer/", {"answer": "x"})
        .status_code
        == 403
    )
