"""The triage pages: /alerts/ (queue and bulk actions) and /alerts/<id>/ (one alert): who sees
them, what they show, what the actions answer, and what they cost in queries."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from accounts.models import Role, User
from incidents import services as incident_services
from incidents.models import Incident, MemberRole
from intake import services as intake_services
from intake.models import Alert
from intake.normalizers import NormalizedAlert
from intake.triage import alerts_link

from ..factories import UserFactory

T0 = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
QUEUE = "/alerts/"


@pytest.fixture
def siem(db) -> User:
    return UserFactory(username="splunk-prod", role=Role.INTEGRATION)


def ingest(sender: User, *alerts: NormalizedAlert, raw: dict | None = None) -> list[Alert]:
    received = [intake_services.Received(alert=a, raw=raw or {"id": a.source_ref}) for a in alerts]
    results = intake_services.alerts_ingest(received=received, source="siem", format="generic", sender=sender)
    return [result.alert for result in results]


def normalized(ref: str, **fields) -> NormalizedAlert:
    fields.setdefault("title", f"Alert {ref}")
    fields.setdefault("severity", "low")
    fields.setdefault("observed_at", T0)
    return NormalizedAlert(source_ref=ref, **fields)


def many(sender: User, count: int) -> list[Alert]:
    return ingest(sender, *(normalized(f"BULK-{n:03}", title=f"Beacon {n:03}", host=f"host-{n}") for n in range(count)))


@pytest.fixture
def three(siem: User) -> list[Alert]:
    return ingest(
        siem,
        normalized("A-1", title="Impossible travel for j.doe", user="j.doe"),
        normalized("A-2", title="Mass download from SharePoint", user="j.doe", severity="medium"),
        normalized("A-3", title="Port scan from 203.0.113.9", host="fw-edge-1"),
    )


def statuses() -> dict[str, str]:
    return dict(Alert.objects.values_list("source_ref", "status"))


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- Who sees the pages ----------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["admin", "lead", "responder"])
def test_triagers_see_the_queue_and_an_alert(request, login, persona: str, three) -> None:
    client = login(request.getfixturevalue(persona))
    response = client.get(QUEUE)
    assert response.status_code == 200
    assert b'<a href="/alerts/" aria-current="page">Alerts</a>' in response.content  # the nav link
    assert client.get(f"/alerts/{three[0].pk}/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["executive", "vendor", "siem"])
def test_everyone_else_gets_a_404_and_no_nav_link(request, login, persona: str, three) -> None:
    client = login(request.getfixturevalue(persona))
    assert client.get(QUEUE).status_code == 404
    assert client.get(f"/alerts/{three[0].pk}/").status_code == 404
    assert client.post(QUEUE, {"action": "ignore", "alerts": [three[0].pk], "reason": "x"}).status_code == 404
    assert client.post(f"/alerts/{three[0].pk}/", {"action": "ignore", "reason": "x"}).status_code == 404
    assert set(statuses().values()) == {"new"}
    home = client.get("/")
    assert b'href="/alerts/"' not in home.content


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_log_in(client, three) -> None:
    response = client.get(QUEUE)
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


@pytest.mark.django_db
def test_an_unknown_alert_is_a_404(login, responder: User, three) -> None:
    client = login(responder)
    assert client.get("/alerts/987654/").status_code == 404
    assert client.get(f"/alerts/{2**70}/").status_code == 404


# --- The queue -------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_queue_lists_new_alerts_with_counts_per_status(login, responder: User, incident, three) -> None:
    alerts_link(alerts=[three[2]], incident=incident, actor=responder)
    response = login(responder).get(QUEUE)
    html = response.content.decode()
    assert re.search(r'id="tab-new" aria-current="page">New <span class="count">2</span>', html)
    assert re.search(r'id="tab-linked">Linked <span class="count">1</span>', html)
    assert re.search(r'id="tab-ignored">Ignored <span class="count">0</span>', html)
    assert "2 new alerts" in html
    assert [alert.source_ref for alert in response.context["page"].object_list] == ["A-2", "A-1"]
    assert f'name="alerts" value="{three[0].pk}"' in html
    assert "Port scan" not in html

    linked = login(responder).get(QUEUE, {"status": "linked"}).content.decode()
    assert f'<a class="mono" href="/incidents/{incident.reference}/">{incident.reference}</a>' in linked
    assert 'name="alerts"' not in linked  # only new alerts are triaged: no checkboxes, no actions


@pytest.mark.django_db
def test_the_queue_filters_from_the_query_string(login, responder: User, three) -> None:
    client = login(responder)
    page = client.get(QUEUE, {"q": "j.doe", "severity": "medium"})
    assert [a.source_ref for a in page.context["page"].object_list] == ["A-2"]
    assert "1 new alert matches" in page.content.decode()


@pytest.mark.django_db
def test_bad_filter_values_are_reported_not_a_500(login, responder: User, three) -> None:
    page = login(responder).get(QUEUE, {"status": "bogus", "severity": "nope", "q": "x\x00y", "page": "999"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Status: Select a valid choice. bogus is not one of the available choices." in html
    assert "Null characters are not allowed." in html
    assert len(page.context["page"].object_list) == 3  # what was valid still applies


@pytest.mark.django_db
def test_a_restricted_incident_is_not_named_to_those_not_on_it(
    login, responder: User, outsider: User, restricted_incident: Incident, three
) -> None:
    alerts_link(alerts=[three[0]], incident=restricted_incident, actor=responder)
    html = login(outsider).get(QUEUE, {"status": "linked"}).content.decode()
    assert "a restricted incident" in html
    assert restricted_incident.reference not in html
    detail = login(outsider).get(f"/alerts/{three[0].pk}/").content.decode()
    assert "a restricted incident" in detail
    assert restricted_incident.reference not in detail
    assert "Internal AI model" not in detail


@pytest.mark.django_db
def test_the_queue_pages_by_fifty(login, responder: User, siem: User) -> None:
    many(siem, 60)
    client = login(responder)
    first = client.get(QUEUE)
    assert len(first.context["page"].object_list) == 50
    assert "Page 1 of 2" in first.content.decode()
    second = client.get(QUEUE, {"page": 2})
    assert [a.source_ref for a in second.context["page"].object_list][-1] == "BULK-000"
    assert len(second.context["page"].object_list) == 10


# --- Bulk actions ----------------------------------------------------------------------------
@pytest.mark.django_db
def test_promote_two_alerts_from_the_queue(login, responder: User, three) -> None:
    client = login(responder)
    response = client.post(
        f"{QUEUE}?severity=low&severity=medium",
        {"action": "promote", "alerts": [three[0].pk, three[1].pk], "title": "", "severity": ""},
    )
    assert response.status_code == 302
    assert response.url == f"{QUEUE}?severity=low&severity=medium"  # back to the same filters
    incident = Incident.objects.get()
    assert (incident.title, incident.severity) == ("Impossible travel for j.doe", "medium")
    assert statuses() == {"A-1": "promoted", "A-2": "promoted", "A-3": "new"}
    page = client.get(response.url)
    assert messages_of(page) == [f"Promoted 2 alerts to a new incident, {incident.reference}."]
    assert re.search(r'id="tab-new" aria-current="page">New <span class="count">1</span>', page.content.decode())


@pytest.mark.django_db
def test_link_from_the_queue(login, responder: User, incident: Incident, three) -> None:
    client = login(responder)
    response = client.post(QUEUE, {"action": "link", "alerts": [three[2].pk], "reference": incident.reference.lower()})
    assert response.status_code == 302
    assert statuses()["A-3"] == "linked"
    assert messages_of(client.get(QUEUE)) == [f"Linked 1 alert to {incident.reference}."]


@pytest.mark.django_db
def test_link_to_an_unknown_or_invisible_incident_is_a_form_error(
    login, outsider: User, restricted_incident: Incident, three
) -> None:
    client = login(outsider)
    for reference in ("IR-2099-9999", restricted_incident.reference):
        response = client.post(QUEUE, {"action": "link", "alerts": [three[0].pk], "reference": reference})
        assert response.status_code == 400
        html = response.content.decode()
        # The same words whether it does not exist or is restricted: nothing is given away.
        assert f"There is no incident {reference} that you can see." in html
        assert f'name="alerts" value="{three[0].pk}" id="pick-{three[0].pk}"' in html
        assert "checked>" in html  # the selection survives the error
    missing = client.post(QUEUE, {"action": "link", "alerts": [three[0].pk], "reference": ""})
    assert "Give the reference of the incident to link to" in missing.content.decode()
    assert set(statuses().values()) == {"new"}


@pytest.mark.django_db
def test_link_to_an_incident_one_only_observes_is_refused_on_the_form(
    login, lead: User, outsider: User, restricted_incident: Incident, three
) -> None:
    incident_services.member_add(incident=restricted_incident, user=outsider, actor=lead, role=MemberRole.OBSERVER)
    response = login(outsider).post(
        QUEUE, {"action": "link", "alerts": [three[0].pk], "reference": restricted_incident.reference}
    )
    assert response.status_code == 400
    assert "You may not add to this incident." in response.content.decode()
    assert set(statuses().values()) == {"new"}


@pytest.mark.django_db
def test_link_to_a_closed_incident_is_refused_on_the_form(login, lead, responder, incident, three) -> None:
    incident_services.incident_close(incident=incident, actor=lead, resolution="benign")
    response = login(responder).post(
        QUEUE, {"action": "link", "alerts": [three[0].pk], "reference": incident.reference}
    )
    assert response.status_code == 400
    assert f"{incident.reference} is closed: reopen it first" in response.content.decode()


@pytest.mark.django_db
def test_ignore_from_the_queue_needs_a_reason(login, responder: User, three) -> None:
    client = login(responder)
    refused = client.post(QUEUE, {"action": "ignore", "alerts": [three[0].pk, three[1].pk], "reason": " "})
    assert refused.status_code == 400
    assert "Say why these alerts need no response." in refused.content.decode()
    assert set(statuses().values()) == {"new"}
    done = client.post(QUEUE, {"action": "ignore", "alerts": [three[0].pk, three[1].pk], "reason": "Pentest"})
    assert done.status_code == 302
    assert statuses() == {"A-1": "ignored", "A-2": "ignored", "A-3": "new"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "ignore", "reason": "x"}, "Select at least one alert."),
        ({"action": "ignore", "reason": "x", "alerts": ["1; DROP"]}, "“1; DROP” is not an alert."),
        ({"action": "ignore", "reason": "x", "alerts": ["99999999999999999999"]}, "is not an alert."),
        ({"action": "explode", "alerts": ["1"]}, "Select a valid choice. explode is not one of the available choices."),
        ({"alerts": ["1"]}, "This field is required."),
        ({"action": "ignore", "reason": "x", "alerts": ["987654"]}, "No such alert: 987654."),
    ],
)
def test_a_malformed_action_is_a_400_with_a_message(login, responder: User, three, data: dict, message: str) -> None:
    response = login(responder).post(QUEUE, data)
    assert response.status_code == 400
    assert message in response.content.decode()


@pytest.mark.django_db
def test_acting_on_an_alert_someone_else_triaged_says_so(login, responder: User, lead: User, three) -> None:
    login(lead).post(QUEUE, {"action": "ignore", "alerts": [three[0].pk], "reason": "Known"})
    response = login(responder).post(QUEUE, {"action": "promote", "alerts": [three[0].pk]})
    assert response.status_code == 400
    assert "already triaged: “Impossible travel for j.doe” (ignored)" in response.content.decode()


# --- One alert -------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_alert_page_shows_observables_and_the_escaped_payload(login, settings, responder: User, siem: User) -> None:
    settings.OUR_DOMAINS = ["breachline.example"]
    (alert,) = ingest(
        siem,
        normalized(
            "X-1",
            title="Phish <b>clicked</b>",
            user="finance@breachline.example",
            observables=[("ip", "185.220.101.47"), ("email", "finance@breachline.example"), ("ip", "not an ip")],
        ),
        # Keys in the order PostgreSQL's jsonb keeps them (shorter first): the page shows what is stored.
        raw={"sid": "Phish", "result": {"n": 2, "msg": "<script>alert(1)</script>"}},
    )
    response = login(responder).get(f"/alerts/{alert.pk}/")
    html = response.content.decode()
    assert "<h1>Phish &lt;b&gt;clicked&lt;/b&gt;</h1>" in html
    rows = re.findall(
        r'<td class="observable-type">(.*?)</td><td class="observable-value"><code>(.*?)</code></td>'
        r'<td class="observable-role role-\w+">(.*?)</td>',
        html,
    )
    assert rows == [
        ("ip", "185.220.101.47", "Attacker-side"),
        ("email", "finance@breachline.example", "Our asset (affected)"),
    ]
    assert "<script>alert(1)</script>" not in html
    assert (
        "{\n  &quot;sid&quot;: &quot;Phish&quot;,\n  &quot;result&quot;: {\n"
        "    &quot;n&quot;: 2,\n    &quot;msg&quot;: &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;\n  }\n}"
    ) in html
    assert 'name="action" value="promote"' in html


@pytest.mark.django_db
def test_the_alert_page_acts_on_that_alert_only(login, responder: User, three) -> None:
    client = login(responder)
    url = f"/alerts/{three[1].pk}/"
    # Other alerts slipped into the post are not acted on: the page is about this one.
    response = client.post(url, {"action": "ignore", "reason": "Backup job", "alerts": [three[0].pk]})
    assert response.status_code == 302
    assert response.url == url
    assert statuses() == {"A-1": "new", "A-2": "ignored", "A-3": "new"}
    page = client.get(url)
    html = page.content.decode()
    assert messages_of(page) == ["Ignored 1 alert."]
    assert '<dd id="alert-ignore-reason">Backup job</dd>' in html
    assert 'name="action" value="promote"' not in html  # triaged: no actions left
    refused = client.post(url, {"action": "promote"})
    assert refused.status_code == 400
    assert "Only new alerts can be promoted" in refused.content.decode()


@pytest.mark.django_db
def test_promote_from_the_alert_page(login, responder: User, three) -> None:
    client = login(responder)
    url = f"/alerts/{three[2].pk}/"
    response = client.post(url, {"action": "promote", "title": "Edge scan", "severity": "high"})
    assert response.status_code == 302
    incident = Incident.objects.get()
    assert (incident.title, incident.severity) == ("Edge scan", "high")
    html = client.get(url).content.decode()
    assert f'<a class="mono" href="/incidents/{incident.reference}/">{incident.reference}</a> Edge scan' in html


# --- Query counts ----------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("alerts", [3, 60])
def test_the_queue_costs_the_same_queries_whatever_its_size(
    login, responder: User, siem: User, incident: Incident, alerts: int, django_assert_num_queries
) -> None:
    created = many(siem, alerts)
    alerts_link(alerts=created[:2], incident=incident, actor=responder)  # incident links on the page
    client = login(responder)
    # 5: session, user, counts (one GROUP BY), the page's COUNT, the page's rows (with the
    # visible incident's reference as a subquery: no query per row).
    with django_assert_num_queries(5):
        response = client.get(QUEUE, {"status": "linked"})
    assert len(response.context["page"].object_list) == 2
    with django_assert_num_queries(5):
        response = client.get(QUEUE)
    assert len(response.context["page"].object_list) == min(alerts - 2, 50)


@pytest.mark.django_db
def test_the_alert_page_costs_three_queries(login, responder: User, incident, three, django_assert_num_queries):
    alerts_link(alerts=[three[0]], incident=incident, actor=responder)
    client = login(responder)
    # 3: session, user, the alert (with who sent and triaged it, and the incident's reference
    # and title as subqueries).
    with django_assert_num_queries(3):
        response = client.get(reverse("intake:detail", args=[three[0].pk]))
    assert response.status_code == 200
