"""desktopvm/testing (stand-ins, the test guest) stays out of the wheel and the frozen app."""

from __future__ import annotations

import tomllib

from setuptools import find_packages

from installer import bundle_filter, project


def test_the_package_find_leaves_the_test_support_out():
    config = tomllib.loads((project.REPO / "pyproject.toml").read_text(encoding="utf-8"))
    find = config["tool"]["setuptools"]["packages"]["find"]
    packages = set(find_packages(str(project.REPO), include=find["include"],
                                 exclude=find.get("exclude", ())))
    assert {"desktopvm", "desktopvm.rfb", "backends.qemu"} <= packages
    assert not {p for p in packages if p.split(".")[:2] == ["desktopvm", "testing"]}


def test_the_frozen_app_leaves_the_test_support_out():
    hidden = bundle_filter.package_modules(project.REPO, "desktopvm")
    assert "desktopvm.rfb.client" in hidden
    assert not [m for m in hidden if m.split(".")[:2] == ["desktopvm", "testing"]]
    # and PyInstaller does not follow an import of it either
    assert "desktopvm.testing" in bundle_filter.EXCLUDED_MODULES
