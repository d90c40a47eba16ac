"""Editing an indicator in the browser (incidents/indicators/views.py ``indicator_edit``): who is
offered the form, what a save changes and records, what bad input and a stale form do."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.indicators import services
from incidents.models import Activity, Indicator, MemberRole, Verb
from incidents.services import member_add

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def indicator(incident, lead, responder) -> Indicator:
    member_add(incident=incident, user=responder, actor=lead)
    return services.indicator_add(
        incident=incident, actor=lead, type="domain", value="evil[.]example", tlp="amber", confidence=40, source="proxy"
    )


def _url(indicator: Indicator) -> str:
    return f"/incidents/{indicator.incident.reference}/indicators/{indicator.pk}/edit/"


def _post(indicator: Indicator, **changes) -> dict:
    data = {
        "tlp": indicator.tlp,
        "role": indicator.role,
        "first_seen": "",
        "last_seen": "",
        "source": indicator.source,
        "confidence": indicator.confidence,
        "description": indicator.description,
        "updated": indicator.updated_at.isoformat(),
    }
    if indicator.internal:
        data["internal"] = "on"
    data.update(changes)
    return data


def _snapshot(indicator: Indicator) -> tuple:
    indicator.refresh_from_db()
    return (indicator.tlp, indicator.role, indicator.confidence, indicator.first_seen, indicator.last_seen,
            indicator.source, indicator.internal, indicator.updated_at)  # fmt: skip


def test_a_responder_member_is_offered_the_edit_form(login, responder, indicator):
    client = login(responder)
    page = client.get(f"/incidents/{indicator.incident.reference}/").content.decode()
    assert f'hx-get="{_url(indicator)}"' in page
    form = client.get(_url(indicator), **HX)
    assert form.status_code == 200
    html = form.content.decode()
    for name in ("tlp", "role", "first_seen", "last_seen", "source", "confidence", "internal"):
        assert f'name="{name}"' in html
    # Type and value are shown, not editable.
    assert "<code>evil.example</code>" in html
    assert 'name="type"' not in html and 'name="value"' not in html
    assert "cannot be changed here" in html


@pytest.mark.parametrize("who", ["executive", "reader"])
def test_readers_are_not_offered_the_form_and_may_not_post(login, request, indicator, who):
    if who == "executive":
        user = request.getfixturevalue("executive")
    else:  # an observer member: reads only
        user = request.getfixturevalue("outsider")
        member_add(incident=indicator.incident, user=user, actor=indicator.incident.lead, role=MemberRole.OBSERVER)
    client = login(user)
    page = client.get(f"/incidents/{indicator.incident.reference}/")
    assert page.status_code == 200
    assert _url(indicator) not in page.content.decode()
    assert client.get(_url(indicator), **HX).status_code == 403
    before = _snapshot(indicator)
    assert client.post(_url(indicator), _post(indicator, tlp="red"), **HX).status_code == 403
    assert _snapshot(indicator) == before


def test_a_vendor_never_reaches_an_internal_indicator(login, lead, vendor, restricted_incident):
    internal = services.indicator_add(incident=restricted_incident, actor=lead, type="ip", value="203.0.113.9")
    shared = services.indicator_add(
        incident=restricted_incident, actor=lead, type="ip", value="203.0.113.10", internal=False
    )
    assert internal.internal and not shared.internal
    client = login(vendor)
    page = client.get(f"/incidents/{restricted_incident.reference}/").content.decode()
    assert _url(internal) not in page
    assert client.get(_url(internal), **HX).status_code == 404
    assert client.post(_url(internal), _post(internal, tlp="red"), **HX).status_code == 404
    # A shared one they may edit, but not make internal: the field is not offered.
    form = client.get(_url(shared), **HX).content.decode()
    assert 'name="tlp"' in form and 'name="internal"' not in form
    response = client.post(_url(shared), _post(shared, tlp="green", internal="on"), **HX)
    assert response.status_code == 200
    shared.refresh_from_db()
    assert (shared.tlp, shared.internal) == ("green", False)


def test_a_non_member_gets_404(login, outsider, lead, restricted_incident):
    hidden = services.indicator_add(incident=restricted_incident, actor=lead, type="ip", value="203.0.113.9")
    client = login(outsider)
    assert client.get(_url(hidden), **HX).status_code == 404
    assert client.post(_url(hidden), _post(hidden, tlp="red"), **HX).status_code == 404
    hidden.refresh_from_db()
    assert hidden.tlp == "amber"


def test_a_valid_edit_changes_the_row_and_records_old_to_new(login, responder, indicator):
    client = login(responder)
    first = (timezone.localtime() - timedelta(days=2)).replace(second=0, microsecond=0)
    last = first + timedelta(hours=5)
    data = _post(
        indicator,
        tlp="red",
        role="affected",
        confidence="90",
        source="  EDR   alert ",
        first_seen=first.strftime("%Y-%m-%dT%H:%M"),
        last_seen=last.strftime("%Y-%m-%dT%H:%M"),
    )
    response = client.post(_url(indicator), data, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    # The panel with the row focused, and the activity panel along.
    assert html.lstrip().startswith('<div id="indicators-panel">')
    assert f'id="indicator-{indicator.pk}" tabindex="-1" autofocus' in html
    assert "Saved the domain evil.example." in html
    assert 'hx-swap-oob="innerHTML:#case-activity"' in html
    assert "changed the indicator domain evil.example" in html
    indicator.refresh_from_db()
    assert (indicator.tlp, indicator.role, indicator.confidence) == ("red", "affected", 90)
    assert indicator.source == "EDR alert"  # whitespace collapsed, as when added
    assert (indicator.first_seen, indicator.last_seen) == (first, last)
    entry = Activity.objects.filter(verb=Verb.INDICATOR_UPDATED).get()
    assert entry.actor == responder
    changes = entry.data["changes"]
    assert changes["tlp"] == {"old": "amber", "new": "red"}
    assert changes["confidence"] == {"old": 40, "new": 90}
    assert changes["source"] == {"old": "proxy", "new": "EDR alert"}
    assert set(changes) == {"tlp", "role", "confidence", "source", "first_seen", "last_seen"}


def test_times_with_seconds_left_as_shown_are_not_changes(login, lead, responder, indicator):
    seen = timezone.now().replace(microsecond=0) - timedelta(days=1, seconds=-17)
    services.indicator_update(indicator=indicator, actor=lead, data={"first_seen": seen})
    indicator.refresh_from_db()
    client = login(responder)
    form = client.get(_url(indicator), **HX).content.decode()
    shown = timezone.localtime(seen).strftime("%Y-%m-%dT%H:%M")
    assert f'value="{shown}"' in form
    client.post(_url(indicator), _post(indicator, first_seen=shown, confidence="41"), **HX)
    indicator.refresh_from_db()
    assert indicator.first_seen == seen  # kept to the second
    assert set(Activity.objects.filter(verb=Verb.INDICATOR_UPDATED).latest("id").data["changes"]) == {"confidence"}


def test_nothing_changed_writes_nothing(login, responder, indicator):
    client = login(responder)
    response = client.post(_url(indicator), _post(indicator), **HX)
    assert response.status_code == 200
    assert "Nothing changed" in response.content.decode()
    assert not Activity.objects.filter(verb=Verb.INDICATOR_UPDATED).exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"confidence": "150"}, "confidence", "less than or equal to 100"),
        ({"tlp": "purple"}, "tlp", "Select a valid choice"),
        ({"first_seen": "2025-03-02T10:00", "last_seen": "2025-03-01T10:00"}, "last_seen", "before first seen"),
        ({"last_seen": "2999-01-01T00:00"}, "last_seen", "cannot be in the future"),
    ],
)
def test_bad_input_is_a_field_error_and_changes_nothing(login, responder, indicator, changes, field, message):
    client = login(responder)
    before = _snapshot(indicator)
    response = client.post(_url(indicator), _post(indicator, **changes), **HX)
    assert response.status_code == 200  # htmx swaps it: the panel with the form open
    html = response.content.decode()
    assert f'<p class="error" id="indicator-edit-{field}-error">' in html
    assert message in html
    assert re.search(rf'<(input|select)[^>]* autofocus[^>]* id="indicator-edit-{field}"', html)  # htmx focuses it
    assert _snapshot(indicator) == before
    assert not Activity.objects.filter(verb=Verb.INDICATOR_UPDATED).exists()


def test_bad_input_without_htmx_is_the_edit_page_with_a_400(login, responder, indicator):
    client = login(responder)
    response = client.post(_url(indicator), _post(indicator, confidence="150"))
    assert response.status_code == 400
    assert "less than or equal to 100" in response.content.decode()
    assert 'hx-post="' not in response.content.decode().split("indicator-edit-form")[1].split(">")[0]


def test_a_plain_post_saves_and_redirects_to_the_row(login, responder, indicator):
    client = login(responder)
    response = client.post(_url(indicator), _post(indicator, tlp="green"))
    assert response.status_code == 302
    assert response["Location"].endswith(f"/incidents/{indicator.incident.reference}/#indicator-{indicator.pk}")
    indicator.refresh_from_db()
    assert indicator.tlp == "green"


def test_a_stale_edit_is_refused_with_a_clear_message(login, lead, responder, indicator):
    client = login(responder)
    loaded = _post(indicator, tlp="green")
    services.indicator_update(indicator=indicator, actor=lead, data={"tlp": "red"})  # someone else, meanwhile
    response = client.post(_url(indicator), loaded, **HX)
    html = response.content.decode()
    assert "Someone changed this domain evil.example since you opened the form" in html
    indicator.refresh_from_db()
    assert indicator.tlp == "red"
    # Saving again from the form shown (it carries the current stamp) applies the change.
    indicator.refresh_from_db()
    assert f'value="{indicator.updated_at.isoformat()}"' in html
    client.post(_url(indicator), _post(indicator, tlp="green"), **HX)
    indicator.refresh_from_db()
    assert indicator.tlp == "green"


def test_cancel_empties_the_form(login, responder, indicator):
    client = login(responder)
    response = client.get(_url(indicator) + "?cancel=1", **HX)
    assert response.status_code == 200 and response.content == b""
