"""intake: filled by later issues (see ../shared/design.md)."""
