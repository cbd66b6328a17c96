"""Windows-only code tested for real: a Windows CPython under wine."""
