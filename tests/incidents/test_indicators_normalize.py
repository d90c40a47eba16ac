"""Normalizing and refanging, table-driven: through the service (what the browser and the API
call) and the API's 400s. Expected values are written out."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from incidents.indicators import services
from incidents.indicators.normalize import normalize, refang

pytestmark = pytest.mark.django_db

NORMALIZED = [
    # ip: v4, defanged v4, v6 in its canonical form, CIDR (host bits cleared), /32 is an address
    ("ip", "203.0.113.7", "203.0.113.7"),
    ("ip", "45[.]137[.]21[.]9", "45.137.21.9"),
    ("ip", "10[.]0[.]0[.]1", "10.0.0.1"),
    ("ip", "2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
    ("ip", "[2a0b:4140::0:7]", "2a0b:4140::7"),
    ("ip", "45.137.21.77/24", "45.137.21.0/24"),
    ("ip", "45.137.21.9/32", "45.137.21.9"),
    ("ip", "2001:db8::/32", "2001:db8::/32"),
    # domain: lower case, trailing dot, IDNA, defanged
    ("domain", "EVIL[.]Example.COM.", "evil.example.com"),
    ("domain", "bücher.de", "xn--bcher-kva.de"),
    ("domain", "cdn-update(dot)net", "cdn-update.net"),
    ("hostname", "WS-0142", "ws-0142"),
    # url: scheme/host lower, default port dropped, fragment dropped, / for an empty path
    ("url", "hxxps://Evil[.]COM:443/Path?q=1#frag", "https://evil.com/Path?q=1"),
    ("url", "hXXp://evil[.]com", "http://evil.com/"),
    ("url", "http://[2001:DB8::1]:8080/x", "http://[2001:db8::1]:8080/x"),
    ("url", "http://bücher.de/ü", "http://xn--bcher-kva.de/%C3%BC"),
    ("url", "hxxp[:]//45[.]137[.]21[.]9:8080/stage2.ps1", "http://45.137.21.9:8080/stage2.ps1"),
    # email
    ("email", "Billing[@]Invoices-Paypa1[.]com", "billing@invoices-paypa1.com"),
    ("email", "jdoe(at)evil(dot)com", "jdoe@evil.com"),
    # hashes: lower-case hex
    ("sha256", " 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08 ",
     "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    ("sha1", "A94A8FE5CCB19BA61C4C0873D391E987982FBBD3", "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"),
    ("md5", "44D88612FEA8A8F36DE82E1278ABB02F", "44d88612fea8a8f36de82e1278abb02f"),
    # exact-match types: trimmed (user agents: whitespace collapsed), case kept
    ("account", "  CORP\\jdoe ", "CORP\\jdoe"),
    ("filename", " Invoice_8812.iso", "Invoice_8812.iso"),
    ("user_agent", "curl/8.4.0\t (x)", "curl/8.4.0 (x)"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "raw", "expected"), NORMALIZED)
def test_values_are_refanged_and_normalized(lead, incident, kind, raw, expected):
    indicator = services.indicator_add(incident=incident, actor=lead, type=kind, value=raw)
    indicator.refresh_from_db()
    assert indicator.value == expected


BAD = [
    ("ip", "999.1.1.1", "is not an IPv4 or IPv6 address"),
    ("ip", "evil.com", "is not an IPv4 or IPv6 address"),
    ("domain", "1.2.3.4", "looks like an IP address"),
    ("domain", "localhost", "needs at least two labels"),
    ("domain", "-bad-.com", "is not a valid domain"),
    ("domain", "evil..com", "is not a valid domain"),
    ("url", "evil.com/login", "needs a scheme and a host"),
    ("url", "http://exa mple.com/", "contains spaces"),
    ("url", "http://evil.com:99999/", "is not a valid URL"),
    ("email", "not-an-address", "is not an e-mail address"),
    ("email", "x@y", "the part after @ is not a domain"),
    ("sha256", "abc", "A SHA-256 is 64 hexadecimal characters"),
    ("md5", "z" * 32, "An MD5 is 32 hexadecimal characters"),
    ("sha1", "a" * 41, "A SHA-1 is 40 hexadecimal characters"),
    ("filename", "C:\\Users\\x\\evil.exe", "without its folder"),
    ("account", "a" * 300, "At most 256 characters"),
    ("domain", "evil\x00.com", "control characters"),
    ("ip", "   ", "Enter a value"),
]


@pytest.mark.parametrize(("kind", "raw", "message"), BAD)
def test_bad_values_are_a_field_error(lead, incident, kind, raw, message):
    with pytest.raises(ValidationError) as caught:
        services.indicator_add(incident=incident, actor=lead, type=kind, value=raw)
    assert message in " ".join(caught.value.message_dict["value"])
    assert incident.indicators.count() == 0


@pytest.mark.parametrize(("kind", "raw", "message"), BAD[:8])
def test_bad_values_are_a_400_with_the_field_message_in_the_api(api, lead, incident, kind, raw, message):
    client = api("incidents:read", "incidents:write", user=lead)
    response = client.post(
        f"/api/v1/incidents/{incident.reference}/indicators/", {"type": kind, "value": raw}, format="json"
    )
    assert response.status_code == 400
    assert message in " ".join(response.json()["value"])


def test_bad_value_in_the_browser_is_a_form_error(login, lead, incident):
    response = login(lead).post(
        f"/incidents/{incident.reference}/indicators/",
        {"type": "ip", "value": "999.1.1.1", "tlp": "amber", "confidence": "50"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "is not an IPv4 or IPv6 address" in response.content.decode()
    assert incident.indicators.count() == 0


def test_the_same_value_written_differently_is_one_indicator(lead, incident):
    services.indicator_add(incident=incident, actor=lead, type="domain", value="Evil.com")
    with pytest.raises(ValidationError) as caught:
        services.indicator_add(incident=incident, actor=lead, type="domain", value="evil[.]com.")
    assert caught.value.message_dict["value"] == ["The domain evil.com is already on this incident."]


def test_refang_leaves_ordinary_text_alone():
    assert refang("hxxps://a[.]b[.]c/x and x[@]y[.]z, fxp[:]//f(dot)g") == "https://a.b.c/x and x@y.z, ftp://f.g"
    assert refang("the [dot] matrix") == "the . matrix"  # bracketed on purpose only
    assert refang("plain text, no change.") == "plain text, no change."


def test_an_unknown_type_is_an_error_on_type():
    with pytest.raises(ValidationError) as caught:
        normalize("registry_key", "HKLM\\Run")
    assert "type" in caught.value.message_dict


def test_seen_times_in_order_and_not_in_the_future(lead, incident):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    with pytest.raises(ValidationError) as caught:
        services.indicator_add(
            incident=incident, actor=lead, type="ip", value="45.137.21.9", first_seen=now, last_seen=now - timedelta(1)
        )
    assert caught.value.message_dict["last_seen"] == ["Last seen cannot be before first seen."]
    with pytest.raises(ValidationError) as caught:
        services.indicator_add(
            incident=incident, actor=lead, type="ip", value="45.137.21.9", first_seen=now + timedelta(days=1)
        )
    assert caught.value.message_dict["first_seen"] == ["First seen cannot be in the future."]
