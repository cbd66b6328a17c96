"""Frozen entry point of the command line (`desktopvm-cli`)."""

from desktopvm.cli import main

raise SystemExit(main())
