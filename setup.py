"""Map the top-level folders (agent/, controller/, reports/, protos/) into one `rigbench` namespace.

The tree shows the architecture; the import names stay under `rigbench.` so nothing generic
such as `agent` lands in site-packages. Subpackages are found by walking each folder, so a
new runtime adapter or telemetry backend needs no packaging change.
"""

from pathlib import Path

from setuptools import setup

ROOTS = {
    "rigbench": "rigbench",
    "rigbench.v1": "protos/rigbench/v1",
    "rigbench.agent": "agent",
    "rigbench.controller": "controller",
    "rigbench.reports": "reports",
}


def _packages() -> tuple[list[str], dict[str, str]]:
    packages: list[str] = []
    package_dir: dict[str, str] = {}
    here = Path(__file__).parent
    for name, folder in ROOTS.items():
        package_dir[name] = folder
        for init in sorted((here / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(here / folder)
            packages.append(".".join([name, *rel.parts]) if rel.parts else name)
    return packages, package_dir


_pkgs, _dirs = _packages()
setup(packages=_pkgs, package_dir=_dirs, package_data={"rigbench.v1": ["*.proto", "*.pyi"]})
