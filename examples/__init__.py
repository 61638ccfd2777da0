"""Runnable rhom examples (each is exercised by the test suite)."""
