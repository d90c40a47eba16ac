"""Evidence: files and text excerpts on an incident, and their hash-chained chain of custody.

- ``uploads``: the upload handler that hashes (SHA-256, MD5, SHA-1) while streaming to disk and
  enforces ``EVIDENCE_MAX_BYTES``; content-type sniffing and file-name cleaning.
- ``storage``: the private ``evidence`` storage alias (no URLs, ever).
- ``custody``: the chain's canonical serialization, appending an event, verifying a chain.
- ``services``: every write (adding, transferring, accessing, exporting, verifying, purging,
  legal holds); ``selectors``: every read, through ``incidents_visible_to`` and ``shared_with``.
- ``downloads`` and ``manifest``: the responses (streamed file, X-Accel-Redirect, protected ZIP;
  CSV/JSON manifests); ``views``, ``forms`` and ``api``: the browser and the REST API.
"""
