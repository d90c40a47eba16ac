"""timeline: filled by later issues (see ../shared/design.md)."""
