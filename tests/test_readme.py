"""The README's examples work: every ```python block runs (in a fresh namespace each, in a
scratch folder that sees the repository's ``examples/``), and every ``synthmatch`` command
of the ```bash blocks is accepted by the command line's parser."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def blocks(language: str) -> List[str]:
    """The README's fenced code blocks of ``language``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(encoding="utf-8"),
                      flags=re.S | re.M)


def commands() -> List[List[str]]:
    """The arguments of every ``synthmatch`` command (also ``-m matching`` under torchrun)
    in the README's bash blocks, continuation lines joined, comments dropped."""
    out = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["synthmatch"]:
                out.append(words[1:])
            elif "-m" in words and words[words.index("-m") + 1:][:1] == ["matching"]:
                out.append(words[words.index("-m") + 2:])
    return out


def test_the_readme_has_examples():
    assert len(blocks("python")) >= 5 and len(commands()) >= 10


RUNNER = """
import os, runpy, sys, traceback
blocks = {blocks!r}
for i, code in enumerate(blocks):
    try:
        exec(compile(code, f"README python block {{i + 1}}", "exec"), {{"__name__": "__readme__"}})
    except Exception:
        traceback.print_exc()
        sys.exit(f"README python block {{i + 1}} failed")
print("ran", len(blocks), "blocks")
"""


def test_every_python_example_runs(tmp_path):
    (tmp_path / "examples").symlink_to(REPO / "examples")
    code = RUNNER.format(blocks=blocks("python"))
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "OMP_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"ran {len(blocks('python'))} blocks" in done.stdout
    assert (tmp_path / "presets" / "summary.csv").is_file()       # match_batch's outputs
    assert (tmp_path / "kick.json").is_file()                      # match_preset's preset


def test_the_options_docstring_examples_hold():
    import doctest
    import matching.options
    failed, tried = doctest.testmod(matching.options)
    assert tried >= 3 and failed == 0


@pytest.mark.parametrize("args", commands(), ids=lambda a: " ".join(a)[:60])
def test_every_command_line_example_parses(args):
    from matching.cli import build_parser
    parsed = build_parser().parse_args(args)
    assert parsed.handler is not None
