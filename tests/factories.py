"""Factories for tests. Incidents are made through the service, as the app makes them."""

from __future__ import annotations

import factory

from accounts.models import Role, User
from incidents import services
from incidents.models import Category, Incident, Severity


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = Role.RESPONDER
    password = factory.django.Password("correct-horse-battery")


def make_incident(*, opened_by: User, **fields) -> Incident:
    fields.setdefault("title", "Suspicious sign-ins from contractor VPN")
    fields.setdefault("severity", Severity.HIGH)
    fields.setdefault("category", Category.THIRD_PARTY)
    return services.incident_open(opened_by=opened_by, **fields)
