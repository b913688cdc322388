"""Build hook: setuptools copies modules into ``build/lib`` and never empties it, so a wheel built
in a checkout would also ship every module deleted or moved since the last build (the re-layout
moved dozens). ``build_py`` here starts from an empty ``build/lib/mistral_lite``. The metadata
is in setup.cfg."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class CleanBuildPy(build_py):
    """``build_py`` that first removes what an earlier build left of the package."""

    def run(self) -> None:
        shutil.rmtree(Path(self.build_lib) / "mistral_lite", ignore_errors=True)
        super().run()


setup(cmdclass={"build_py": CleanBuildPy})
