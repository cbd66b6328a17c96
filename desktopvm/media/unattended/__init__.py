"""Unattended installs and cloud-image seeds: answer files per installer family, seed discs."""

from desktopvm.media.unattended.answers import AnswerError, Answers, Kind, check, kind_for
from desktopvm.media.unattended.crypt import sha512_crypt
from desktopvm.media.unattended.plan import (
    SeedPlan,
    plan_cloud_seed,
    plan_seed,
    supported,
    write_seed,
)
from desktopvm.media.unattended.seed_iso import SeedError, build_seed_iso

__all__ = ["AnswerError", "Answers", "Kind", "SeedError", "SeedPlan", "build_seed_iso", "check",
           "kind_for", "plan_cloud_seed", "plan_seed", "sha512_crypt", "supported",
           "write_seed"]
