"""`python -m desktopvm.cli`: the command line where no `desktopvm-cli` script is installed."""

from desktopvm.cli import main

raise SystemExit(main())
