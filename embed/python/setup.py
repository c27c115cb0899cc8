"""Puts the component into the package at build time: `pam-aws component
--out` of the pam-aws on PATH, else this repository's target/release or
target/debug build (or $PAM_AWS)."""

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent.parent


def pam_aws() -> str:
    if os.environ.get("PAM_AWS"):
        return os.environ["PAM_AWS"]
    found = shutil.which("pam-aws")
    if found:
        return found
    for profile in ("release", "debug"):
        built = REPOSITORY / "target" / profile / "pam-aws"
        if built.exists():
            return str(built)
    raise SystemExit("pam-aws not found on PATH or in target/: run `cargo build --release -p pam-aws` first")


class BuildWithComponent(build_py):
    def run(self) -> None:
        super().run()
        out = Path(self.build_lib) / "pam_aws_console" / "pam-aws-console.wasm"
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([pam_aws(), "component", "--out", str(out)], check=True)


setup(cmdclass={"build_py": BuildWithComponent})
