"""Build hook for the optional compiled modules (scripts/native_build.py); the project's metadata is in pyproject.toml."""

import sys
from pathlib import Path

from setuptools import setup

sys.path.insert(0, str(Path(__file__).resolve().parent / "scripts"))

from native_build import BuildNative, extensions  # noqa: E402

setup(ext_modules=extensions(), cmdclass={"build_ext": BuildNative})
