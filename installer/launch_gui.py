"""Frozen entry point of the desktop app (`desktopvm`)."""

from desktopvm.app import main

raise SystemExit(main())
