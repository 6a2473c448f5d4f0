"""Business calendars: working hours, holidays and make-up working days (docs/design.md §12)."""
