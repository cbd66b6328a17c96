"""Test support: stand-ins and the test guest, shared by tests/, bench/ and docs/ (not shipped)."""
