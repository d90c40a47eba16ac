"""Vendors in the registry that the timeline's tests involve, link and filter by."""

from __future__ import annotations

import pytest

from incidents.vendors import services as vendor_services


@pytest.fixture
def northwind(admin):
    return vendor_services.vendor_create(actor=admin, name="Northwind MSP")


@pytest.fixture
def contoso(admin):
    return vendor_services.vendor_create(actor=admin, name="Contoso Forensics")
