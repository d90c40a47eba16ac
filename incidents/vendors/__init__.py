"""Vendors and third parties (issue 9): the registry shared across incidents and each vendor's
involvement in an incident. See docs/architecture.md, "Vendors"."""
