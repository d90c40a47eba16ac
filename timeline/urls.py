"""The timeline's pages: the incident's timeline and its key events (``views``), and import and
export (``transfer_views``). ``<reference:…>`` and ``<csv_or_json:…>`` are registered by ``incidents.urls``, included
before this module in ``config/urls.py``."""

from . import transfer_views, views

app_name = "timeline"

urlpatterns = [*views.urlpatterns, *transfer_views.urlpatterns]
