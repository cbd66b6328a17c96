"""storagectl as the real 7.2 takes it: the stand-in refuses what the real tool refuses."""

from __future__ import annotations

import pytest

from desktopvm.protocol import CommandFailed
from desktopvm.testing.doubles.virtualbox.double import FakeVBox


def test_storagectl_with_too_few_arguments_is_refused_like_the_real_72(fake: FakeVBox):
    runner = fake.runner()
    runner.run(["createvm", "--name=m", "--register"])
    runner.run(["storagectl", "m", "--name", "SATA", "--add=sata"])
    # Real 7.2.22 answers "Too few parameters" (exit 2) before it parses anything.
    with pytest.raises(CommandFailed, match="Too few parameters"):
        runner.run(["storagectl", "m", "--name=SATA", "--remove"])
    runner.run(["storagectl", "m", "--name", "SATA", "--remove"])
