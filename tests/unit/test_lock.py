"""The lock (requirements/*.txt, made by scripts/lock) matches pyproject.toml: every dependency it names is
pinned there, with hashes, at a version its range allows; the runtime lock is the test lock's runtime
part, so what the suite tests is what ships. A dependency added to pyproject.toml without a new lock
fails here, not on a user's machine."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def pins(name: str) -> dict[str, Version]:
    """name -> pinned version, for each `name==version \\` entry; each must carry at least one hash."""
    text = (ROOT / "requirements" / name).read_text()
    hashes = r"((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)"
    entry = r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)(?: ;[^\\\n]*)? \\\n" + hashes
    entries = re.findall(entry, text, re.M)
    lines = [line for line in text.splitlines() if re.match(r"^[A-Za-z0-9]", line)]
    assert len(entries) == len(lines), f"{name}: an entry without a hash, or not pinned with =="
    return {canonicalize_name(n): Version(v) for n, v, _ in entries}


def project() -> dict[str, list[Requirement]]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {"run": [Requirement(r) for r in meta["project"]["dependencies"]],
            "test": [Requirement(r) for r in meta["project"]["optional-dependencies"]["test"]],
            "connectors": [Requirement(r) for r in meta["project"]["optional-dependencies"]["connectors"]],
            "build": [Requirement(r) for r in meta["build-system"]["requires"]]}


def applies(req: Requirement) -> bool:
    return req.marker is None or req.marker.evaluate(dict(default_environment()))


def check(reqs: list[Requirement], locked: dict[str, Version], lock: str) -> None:
    for req in filter(applies, reqs):
        name = canonicalize_name(req.name)
        assert name in locked, f"{req.name} is in pyproject.toml but not in {lock}: run scripts/lock"
        allowed = req.specifier.contains(locked[name], prereleases=True)
        assert allowed, f"{lock}: {name} {locked[name]}, not {req}"


def test_every_runtime_and_test_dependency_is_pinned_with_hashes_within_its_range():
    deps, test = project(), pins("test.txt")
    check(deps["run"] + deps["test"] + deps["connectors"], test, "test.txt")


def test_the_connectors_lock_is_the_runtime_and_the_bridges_as_tested():
    """`scripts/setup connectors` installs what the suite tested the bridges' mappings with."""
    deps, run, connectors, test = project(), pins("run.txt"), pins("connectors.txt"), pins("test.txt")
    check(deps["run"] + deps["connectors"], connectors, "connectors.txt")
    assert set(run) <= set(connectors), "connectors.txt lacks part of the runtime"
    assert {n: v for n, v in connectors.items() if n != "setuptools"} == {
        n: test[n] for n in connectors if n != "setuptools"}, "connectors.txt and test.txt pin other versions"


def test_the_runtime_lock_is_the_runtime_part_of_the_test_lock():
    deps, run, test = project(), pins("run.txt"), pins("test.txt")
    check(deps["run"], run, "run.txt")
    assert {n: v for n, v in run.items() if n != "setuptools"} == {
        n: test[n] for n in run if n != "setuptools"}, "run.txt and test.txt pin different versions"


def test_the_build_backend_is_locked_too():
    check(project()["build"], pins("build.txt"), "build.txt")


def test_setup_and_the_image_install_exactly_the_lock():
    setup = (ROOT / "scripts" / "setup").read_text()
    docker = (ROOT / "Dockerfile").read_text()
    for text in (setup, docker):
        assert "--require-hashes" in text and "--no-build-isolation" in text
        assert not re.search(r"pip[^\n]* install(?![^\n]*--no-deps)[^\n]*", text.replace("\\\n", " ")), \
            "a pip install that may resolve something outside the lock"
    assert "requirements/run.txt" in docker and "requirements/build.txt" in docker
