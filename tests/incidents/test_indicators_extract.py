"""Extraction from realistic text, candidates written out; "ours" is never attacker-side; the
two browser steps (extract, then confirm what was ticked)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from incidents.indicators.extract import extract
from incidents.models import Activity, Indicator, Verb

pytestmark = pytest.mark.django_db

PHISHING_EMAIL = """Return-Path: <billing@invoices-paypa1[.]com>
Received: from mail.invoices-paypa1.com (mail.invoices-paypa1.com [185.220.101.47])
        by mx1.breachline.example (Postfix) with ESMTPS id 4F2A1
Authentication-Results: mx1.breachline.example; spf=fail smtp.mailfrom=invoices-paypa1.com; header.d=invoices-paypa1.com
From: "PayPal Billing" <billing@invoices-paypa1.com>
To: finance@breachline.example
Message-ID: <20260301.4471@mail.invoices-paypa1.com>
X-Originating-IP: [10.20.30.40]
Subject: Invoice overdue

Please review the invoice at hxxps://invoices-paypa1[.]com/pay?id=8812 and open Invoice_8812.iso.
"""

VENDOR_ADVISORY = """Lakeside DFIR advisory LD-2026-07 (TLP:AMBER)
The actor staged payloads on cdn-update[.]net and exfiltrated over 2a0b:4140:3c5f::7.
SHA-256 of the loader (updater.dll): 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
MD5 44d88612fea8a8f36de82e1278abb02f, C2 at 45.137.21[.]9:443 and 45[.]137[.]21[.]0/24. See e.g. the
report.pdf attached; version 1.2.3 of the tool.
"""

LOG_EXCERPT = """2026-03-02T10:14:07Z sshd[2231]: Accepted password for svc-backup from 45.137.21.9 port 52144 ssh2
2026-03-02T10:15:40Z proxy: 10.1.4.17 CORP\\jdoe "GET http://45.137.21.9:8080/stage2.ps1 HTTP/1.1" 200 "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36"
2026-03-02T10:16:02Z proxy: 10.1.4.17 CORP\\jdoe "GET https://files.breachline.example/share HTTP/1.1" 200 "curl/8.4.0"
"""  # noqa: E501


def found(text: str) -> list[tuple[str, str, bool]]:
    return [(c.type, c.value, c.ours) for c in extract(text)]


@override_settings(OUR_DOMAINS=["breachline.example"])
def test_a_phishing_email_with_its_headers():
    assert found(PHISHING_EMAIL) == [
        ("email", "billing@invoices-paypa1.com", False),
        ("domain", "mail.invoices-paypa1.com", False),
        ("ip", "185.220.101.47", False),
        ("domain", "mx1.breachline.example", True),
        ("domain", "invoices-paypa1.com", False),
        ("email", "finance@breachline.example", True),
        ("ip", "10.20.30.40", True),
        ("url", "https://invoices-paypa1.com/pay?id=8812", False),
        ("filename", "Invoice_8812.iso", False),
    ]


def test_a_vendor_advisory():
    assert found(VENDOR_ADVISORY) == [
        ("domain", "cdn-update.net", False),
        ("ip", "2a0b:4140:3c5f::7", False),
        ("filename", "updater.dll", False),
        ("sha256", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", False),
        ("md5", "44d88612fea8a8f36de82e1278abb02f", False),
        ("ip", "45.137.21.9", False),
        ("ip", "45.137.21.0/24", False),
    ]  # not report.pdf, e.g, 1.2.3 nor LD-2026-07


@override_settings(OUR_DOMAINS=["breachline.example"])
def test_a_log_excerpt():
    ua = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.109 Safari/537.36"
    )
    assert found(LOG_EXCERPT) == [
        ("ip", "45.137.21.9", False),
        ("ip", "10.1.4.17", True),
        ("account", "CORP\\jdoe", False),
        ("url", "http://45.137.21.9:8080/stage2.ps1", False),
        ("user_agent", ua, False),
        ("url", "https://files.breachline.example/share", True),
        ("user_agent", "curl/8.4.0", False),
    ]


@override_settings(OUR_DOMAINS=["breachline.example", "corp.example"])
@pytest.mark.parametrize(
    "text",
    [
        "10.0.0.5 192.168.1.1 172.16.4.4 127.0.0.1 169.254.1.1 100.64.0.9 fd00::1 fe80::1 ::1 224.0.0.5",
        "vpn.corp.example breachline.example https://sso.breachline.example/x it@breachline.example",
        "fileserver.local build.internal",
    ],
)
def test_ours_is_never_proposed_as_attacker_side(text):
    candidates = extract(text)
    assert candidates
    assert all(c.ours and c.role == "affected" for c in candidates), [(c.value, c.role) for c in candidates]


@override_settings(OUR_DOMAINS=["breachline.example"])
def test_paste_extract_then_confirm_the_ticked_ones(login, lead, responder, incident):
    client = login(lead)
    url = f"/incidents/{incident.reference}"
    step1 = client.post(f"{url}/indicators/extract/", {"text": PHISHING_EMAIL}, HTTP_HX_REQUEST="true")
    assert step1.status_code == 200
    html = step1.content.decode()
    assert 'value="url:https://invoices-paypa1.com/pay?id=8812" id="pick-8" checked' in html
    # Ours are offered as affected assets, unticked.
    assert 'value="ip:10.20.30.40" id="pick-7">' in html
    assert Indicator.objects.count() == 0  # nothing saved by the first step

    picks = ["url:https://invoices-paypa1.com/pay?id=8812", "ip:185.220.101.47", "ip:10.20.30.40"]
    step2 = client.post(
        f"{url}/indicators/confirm/", {"pick": picks, "tlp": "green", "source": "headers"}, HTTP_HX_REQUEST="true"
    )
    assert step2.status_code == 200
    assert "Added 3 indicators." in step2.content.decode()
    rows = {(i.type, i.value): (i.role, i.tlp, i.source) for i in incident.indicators.all()}
    assert rows == {
        ("url", "https://invoices-paypa1.com/pay?id=8812"): ("attacker", "green", "headers"),
        ("ip", "185.220.101.47"): ("attacker", "green", "headers"),
        ("ip", "10.20.30.40"): ("affected", "green", "headers"),  # ours: the role is decided again
    }
    entry = Activity.objects.get(incident=incident, verb=Verb.INDICATORS_ADDED)
    assert entry.data["count"] == 3 and not entry.internal


def test_confirming_a_tampered_value_adds_the_good_ones_and_says_why_not(login, lead, incident):
    client = login(lead)
    response = client.post(
        f"/incidents/{incident.reference}/indicators/confirm/",
        {"pick": ["ip:45.137.21.9", "ip:not-an-ip", "md5:zz"], "tlp": "amber"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert "Added 1 indicator." in body and "is not an IPv4 or IPv6 address" in body
    assert list(incident.indicators.values_list("value", flat=True)) == ["45.137.21.9"]


def test_extracting_is_for_contributors_only(login, executive, incident):
    response = login(executive).post(f"/incidents/{incident.reference}/indicators/extract/", {"text": "1.2.3.4"})
    assert response.status_code == 403


def test_extracting_on_an_invisible_incident_is_404(login, outsider, restricted_incident):
    response = login(outsider).post(f"/incidents/{restricted_incident.reference}/indicators/extract/", {"text": "x"})
    assert response.status_code == 404
