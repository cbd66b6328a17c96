"""Setuptools build hook: ship the top-level resources/ as desktopvm/_resources in the package."""

from pathlib import Path

from setuptools.command.build_py import build_py


class BuildPyWithResources(build_py):
    """Copies resources/ into the built package so wheels and frozen apps carry it."""

    def run(self) -> None:
        super().run()
        source = Path(__file__).resolve().parents[1] / "resources"
        if not (source / "os_catalog.json").is_file():
            raise FileNotFoundError(f"{source} has no os_catalog.json; cannot build DesktopVM")
        target = Path(self.build_lib) / "desktopvm" / "_resources"
        for path in sorted(source.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                destination = target / path.relative_to(source)
                destination.parent.mkdir(parents=True, exist_ok=True)
                self.copy_file(str(path), str(destination))


