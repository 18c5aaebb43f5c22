"""scripts/bootstrap, the first step of both README commands: a step that fails fails the
command, and nothing is stamped as installed that was not."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bootstrap(project: Path) -> subprocess.CompletedProcess[str]:
    # No package index: the test needs no network, and the install fails on the project
    # itself, as a broken dependency or a bad pyproject would make it fail.
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(
        ["bash", str(project / "scripts" / "bootstrap")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_a_failed_install_fails_the_command_and_is_tried_again_next_time(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "bootstrap", tmp_path / "scripts" / "bootstrap")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "broken"\nversion = \n')

    first = run_bootstrap(tmp_path)
    assert first.returncode != 0, first.stdout + first.stderr
    assert "Invalid value" in first.stdout + first.stderr, "the cause was hidden"
    assert not (tmp_path / ".venv" / ".installed").exists()

    again = run_bootstrap(tmp_path)
    assert again.returncode != 0, "the second run took the half-made venv for a finished one"
    assert not (tmp_path / ".venv" / ".installed").exists()


def test_a_venv_whose_interpreter_does_not_run_is_made_anew(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "bootstrap", tmp_path / "scripts" / "bootstrap")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "broken"\nversion = \n')
    # What an interrupted `python -m venv` can leave: an interpreter that is not one.
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    broken = tmp_path / ".venv" / "bin" / "python"
    broken.write_text("#!/bin/sh\nexit 127\n")
    broken.chmod(0o755)
    (tmp_path / ".venv" / ".installed").touch()

    outcome = run_bootstrap(tmp_path)
    assert outcome.returncode != 0  # the project itself still does not install
    assert subprocess.run([str(broken), "-c", ""], timeout=30).returncode == 0, (
        "the broken interpreter was kept"
    )
    assert not (tmp_path / ".venv" / ".installed").exists()
