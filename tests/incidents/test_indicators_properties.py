"""Properties of indicator normalization (incidents/indicators/normalize.py), over generated input.

The table-driven tests (test_indicators_normalize.py) pin chosen values; these check what must
hold for every value: any text is either a canonical value or a field error (never another
exception, which would be a 500), normalizing twice changes nothing, and the spellings that mean
the same thing (defanged, upper case, IPv6 written long) meet in one stored value, which is what
correlation across incidents compares.
"""

from __future__ import annotations

import ipaddress

from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from incidents.indicators.normalize import normalize
from incidents.models import INDICATOR_VALUE_MAX, IndicatorType

TYPES = [str(kind) for kind in IndicatorType]
# A host name label; not one with "--" in its 3rd and 4th places, which IDNA 2008 reserves (for
# "xn--" A-labels) and refuses as written (hypothesis found "00--0.com").
LABEL = st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?\Z").filter(lambda label: label[2:4] != "--")
TLD = st.sampled_from(["com", "net", "org", "io", "de", "co.uk", "example"])
DOMAIN = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(LABEL, min_size=1, max_size=3), TLD)


def _canonical_or_refused(kind: str, raw: str) -> str | None:
    try:
        return normalize(kind, raw)
    except ValidationError as refused:
        assert set(refused.message_dict) <= {"value", "type"}, refused.message_dict
        assert all(refused.message_dict.values())
        return None


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(TYPES), raw=st.text(max_size=300))
def test_any_text_is_a_canonical_value_or_a_field_error_and_canonical_values_are_fixed_points(kind, raw):
    value = _canonical_or_refused(kind, raw)
    if value is not None:
        assert len(value) <= INDICATOR_VALUE_MAX
        assert normalize(kind, value) == value


@settings(max_examples=200, deadline=None)
@given(address=st.ip_addresses())
def test_every_spelling_of_an_address_is_stored_the_same(address):
    expected = str(address)  # ipaddress's compressed form
    spellings = {str(address), str(address).upper(), f" {address} "}
    if isinstance(address, ipaddress.IPv6Address):
        spellings.add(address.exploded)
    else:
        spellings.add(str(address).replace(".", "[.]"))
    assert {normalize("ip", spelling) for spelling in spellings} == {expected}


@settings(max_examples=200, deadline=None)
@given(domain=DOMAIN)
def test_a_domain_defanged_or_shouted_is_the_same_domain(domain):
    spellings = [domain, domain.upper(), domain.replace(".", "[.]"), domain.replace(".", "(dot)"), domain + "."]
    assert {normalize("domain", spelling) for spelling in spellings} == {domain}


@settings(max_examples=200, deadline=None)
@given(domain=DOMAIN, path=st.from_regex(r"\A(/[a-zA-Z0-9_-]{1,12}){0,3}\Z"), https=st.booleans())
def test_a_url_defanged_with_its_default_port_and_fragment_is_the_same_url(domain, path, https):
    scheme = "https" if https else "http"
    port = 443 if https else 80
    canonical = f"{scheme}://{domain}{path or '/'}"
    spellings = [
        f"{scheme}://{domain}{path}",
        f"{scheme.upper()}://{domain.upper()}:{port}{path}#section",
        f"hxxp{'s' if https else ''}[://]{domain.replace('.', '[.]')}{path}",
    ]
    assert {normalize("url", spelling) for spelling in spellings} == {canonical}


@settings(max_examples=100, deadline=None)
@given(digest=st.binary(min_size=32, max_size=32))
def test_a_sha256_in_either_case_is_the_same_hash(digest):
    assert normalize("sha256", digest.hex().upper()) == normalize("sha256", digest.hex()) == digest.hex()
