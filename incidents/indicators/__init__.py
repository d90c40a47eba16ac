"""Indicators of compromise: typed, normalized values on an incident, correlated across incidents.

- ``normalize``: refanging and the canonical form per type; ``is_ours``.
- ``extract``: candidate indicators in pasted text (hand-written regexes, then ``normalize``).
- ``services``: every write; ``selectors``: every read and the correlation query.
- ``stix``: the STIX 2.1 bundle (TLP 2.0 markings) and the CSV export.
- ``views``, ``forms``, ``panel`` and ``api``: the browser and the REST API.
"""
