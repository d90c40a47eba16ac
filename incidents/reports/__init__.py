"""Incident reports: the full report (HTML for print, PDF) and the executive one-page brief."""
