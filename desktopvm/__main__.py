"""`python -m desktopvm` starts the desktop app."""

from desktopvm.app import main

raise SystemExit(main())
