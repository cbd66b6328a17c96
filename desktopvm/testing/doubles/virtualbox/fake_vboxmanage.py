#!/usr/bin/env python3
"""Stands in for VBoxManage in tests: run through the wrapper that double.py (beside it) writes."""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script (python -S -E, stdlib only): make the repository importable for the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[4]))  # the repository

from desktopvm.testing.doubles.virtualbox.fakevbox.main import main

if __name__ == "__main__":
    main()
