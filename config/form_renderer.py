"""The form renderer (``FORM_RENDERER``): Django's, with its commonest widget templates written in Python.

Django renders every widget through templates: an ``<input>`` is ``text.html`` including
``input.html`` including ``attrs.html``; a ``<select>`` includes ``select_option.html`` and
``attrs.html`` once per option. On the incident page that came to ~190 template renders, a fifth
of the page's time in the worker (``benchmarks/results/incidents.json``, ``detail_page``). The
functions below produce the same markup from the same widget context, byte for byte, as the
templates of the Django version installed; ``tests/config/test_form_renderer.py`` renders every
covered widget both ways and compares. Anything else (a project template, a widget with its own
``template_name`` or ``option_template_name``) goes through the templates as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.forms.renderers import DjangoTemplates
from django.template import Context
from django.template.base import render_value_in_context
from django.utils.safestring import SafeData, mark_safe

WIDGETS = "django/forms/widgets/"
_CONTEXT = Context(autoescape=True)


def _out(value: Any) -> str:
    """``{{ value }}``: localized and escaped as a template would."""
    return render_value_in_context(value, _CONTEXT)


def _string(value: Any) -> str:
    """``{{ value|stringformat:'s' }}``."""
    text = "%s" % (str(value) if isinstance(value, tuple) else value)
    return _out(mark_safe(text) if isinstance(value, SafeData) else text)  # noqa: S308 - safe only if it was


def _attrs(attrs: dict[str, Any]) -> str:
    """``attrs.html``."""
    parts = []
    for name, value in attrs.items():
        if value is not False:
            parts.append(f" {_out(name)}" if value is True else f' {_out(name)}="{_string(value)}"')
    return "".join(parts)


def _input(widget: dict[str, Any]) -> str:
    """``input.html`` (and the templates that only include it)."""
    value = f' value="{_string(widget["value"])}"' if widget["value"] != None else ""  # noqa: E711 - the template's test
    return f'<input type="{_out(widget["type"])}" name="{_out(widget["name"])}"{value}{_attrs(widget["attrs"])}>'


def _option(option: dict[str, Any]) -> str:
    """``select_option.html``."""
    return f'<option value="{_string(option["value"])}"{_attrs(option["attrs"])}>{_out(option["label"])}</option>'


def _select(widget: dict[str, Any]) -> str | None:
    """``select.html``; None when an option has a template of its own."""
    parts = [f'<select name="{_out(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, group_choices, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{_out(group_name)}">')
        for option in group_choices:
            if option["template_name"] != WIDGETS + "select_option.html":
                return None
            parts.append("\n  " + _option(option) + "\n")  # the option template's own last line
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


def _textarea(widget: dict[str, Any]) -> str:
    """``textarea.html``."""
    value = _out(widget["value"]) if widget["value"] else ""
    return f'<textarea name="{_out(widget["name"])}"{_attrs(widget["attrs"])}>\n{value}</textarea>'


# Templates whose whole content is {% include "django/forms/widgets/input.html" %}.
_INPUTS = (
    "input", "text", "number", "email", "url", "password", "hidden", "search", "tel", "date", "datetime", "time",
    "color", "checkbox",
)  # fmt: skip
WRITTEN: dict[str, Callable[[dict[str, Any]], str | None]] = {
    **{f"{WIDGETS}{name}.html": _input for name in _INPUTS},
    WIDGETS + "select.html": _select,
    WIDGETS + "textarea.html": _textarea,
}


class FastRenderer(DjangoTemplates):
    """``django.forms.renderers.DjangoTemplates`` with ``WRITTEN``'s templates written in Python."""

    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> str:
        written = WRITTEN.get(template_name)
        if written is not None:
            html = written(context["widget"])
            if html is not None:
                return html  # the templates' output is stripped (BaseRenderer.render); this has no edges
        return super().render(template_name, context, request)
