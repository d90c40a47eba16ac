"""``config.form_renderer.FastRenderer`` writes the commonest widget templates in Python: its
markup must be Django's own, byte for byte, for every widget and value it covers."""

from __future__ import annotations

import datetime

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.utils.safestring import mark_safe

from config.form_renderer import WRITTEN, FastRenderer

CHOICES = [("", "—"), ("a", "Alpha & <b>"), (3, 3), ("d", mark_safe("<em>safe</em>"))]
GROUPED = [("Group <1>", [("x", "X"), ("y", "Y")]), ("z", "Zed"), ("", [("w", "W")])]
ATTRS = {"class": "wide", "required": True, "disabled": False, "data-x": 'q"uote', "maxlength": 200}


def widgets() -> list[tuple[str, forms.Widget, object]]:
    return [
        ("text", forms.TextInput(attrs=ATTRS), 'He said "hi" & <left>'),
        ("text none", forms.TextInput(), None),
        ("text empty", forms.TextInput(), ""),
        ("text safe", forms.TextInput(), mark_safe("<i>x</i>")),
        ("number", forms.NumberInput(attrs={"min": 0, "step": "any"}), 12),
        ("email", forms.EmailInput(), "a@b.example"),
        ("url", forms.URLInput(), "https://x.example/?a=1&b=2"),
        ("password", forms.PasswordInput(render_value=True), "s3cret"),
        ("hidden", forms.HiddenInput(), 42),
        ("search", forms.SearchInput(attrs={"placeholder": "Find…"}), "north"),
        ("tel", forms.TelInput(), "+33 1 23"),
        ("date", forms.DateInput(), datetime.date(2026, 11, 26)),
        ("datetime", forms.DateTimeInput(), datetime.datetime(2026, 11, 26, 9, 5)),
        ("time", forms.TimeInput(), datetime.time(9, 5)),
        ("color", forms.ColorInput(), "#ff0000"),
        ("checkbox on", forms.CheckboxInput(attrs={"class": "c"}), True),
        ("checkbox off", forms.CheckboxInput(), False),
        ("select", forms.Select(choices=CHOICES, attrs=ATTRS), "a"),
        ("select int", forms.Select(choices=CHOICES), 3),
        ("select none", forms.Select(choices=CHOICES), None),
        ("select grouped", forms.Select(choices=GROUPED), "y"),
        ("select empty", forms.Select(choices=[]), None),
        ("select multiple", forms.SelectMultiple(choices=CHOICES), ["a", "d"]),
        ("null boolean", forms.NullBooleanSelect(), True),
        ("textarea", forms.Textarea(attrs={"rows": 2}), "line 1\n<line 2> & 3"),
        ("textarea empty", forms.Textarea(), ""),
        ("textarea none", forms.Textarea(), None),
    ]


@pytest.mark.parametrize(("case", "widget", "value"), widgets(), ids=[case for case, _, _ in widgets()])
def test_markup_is_djangos(case, widget, value):
    django_html = widget.render("field", value, attrs={"id": "id_field"}, renderer=DjangoTemplates())
    fast_html = widget.render("field", value, attrs={"id": "id_field"}, renderer=FastRenderer())

    assert widget.template_name in WRITTEN, case  # the case exercises a written template
    assert fast_html == django_html


def test_an_option_template_of_its_own_goes_through_the_templates():
    class Marked(forms.Select):
        option_template_name = "django/forms/widgets/radio_option.html"

    widget = Marked(choices=[("a", "A")])
    assert widget.render("f", "a", renderer=FastRenderer()) == widget.render("f", "a", renderer=DjangoTemplates())


def test_forms_use_it():
    from django.forms.renderers import get_default_renderer

    assert isinstance(get_default_renderer(), FastRenderer)
