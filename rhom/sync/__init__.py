"""rhom's sync client (the facade is filled in by the lead)."""
