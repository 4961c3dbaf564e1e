"""No shell command is ever built from data: a static check over every module of ray_eval.

Forbidden anywhere: `shell=` anything but a literal False, os.system, os.popen, subprocess.getoutput and
getstatusoutput, asyncio's create_subprocess_shell (and a loop's subprocess_shell), pty.spawn with a string. Every
subprocess.run / call / check_call / check_output / Popen passes its argv as a list or tuple display, never a
string (which would need a shell, or be one program name with the data glued in). Names are followed through
`import x as y` and `from x import y as z`. A self-test shows the check catching each pattern in a snippet.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ray_eval"

ALWAYS_SHELL = {"os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput",
                "asyncio.create_subprocess_shell", "commands.getoutput", "commands.getstatusoutput"}
ARGV_FIRST = {"subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
              "subprocess.Popen", "pty.spawn"}
ARGV_DISPLAYS = (ast.List, ast.Tuple, ast.ListComp)


class ShellCheck(ast.NodeVisitor):
    def __init__(self, where: str):
        self.where = where
        self.aliases: dict[str, str] = {}  # local name -> dotted name it stands for
        self.problems: list[str] = []
        self.subprocess_calls = 0

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            local = alias.asname or alias.name.split(".")[0]
            self.aliases[local] = alias.name if alias.asname else local
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if node.module:
                self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        self.generic_visit(node)

    def dotted(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.dotted(node.value)
            return f"{base}.{node.attr}" if base else node.attr
        return None

    def report(self, node: ast.AST, what: str) -> None:
        self.problems.append(f"{self.where}:{node.lineno}: {what}")

    def visit_Call(self, node: ast.Call) -> None:
        name = self.dotted(node.func) or ""
        for keyword in node.keywords:
            literal_false = isinstance(keyword.value, ast.Constant) and keyword.value.value is False
            if keyword.arg == "shell" and not literal_false:
                self.report(node, f"{name or 'a call'}(..., shell={ast.unparse(keyword.value)})")
        if name in ALWAYS_SHELL or name.endswith(".subprocess_shell"):
            self.report(node, f"{name}() runs its argument through a shell")
        if name in ARGV_FIRST or name == "asyncio.create_subprocess_exec":
            self.subprocess_calls += 1
        if name in ARGV_FIRST:
            argv = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "args"), None)
            if argv is None or not isinstance(argv, ARGV_DISPLAYS):
                shown = ast.unparse(argv) if argv is not None else "nothing"
                self.report(node, f"{name}() argv must be a list display, not {shown}")
        self.generic_visit(node)


def check_source(source: str, where: str = "<snippet>") -> ShellCheck:
    checker = ShellCheck(where)
    checker.visit(ast.parse(source, filename=where))
    return checker


def test_no_module_of_ray_eval_builds_a_shell_command() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 30, f"only {len(modules)} modules found under {PACKAGE}"
    problems, subprocess_calls = [], 0
    for module in modules:
        checker = check_source(module.read_text(encoding="utf-8"), str(module.relative_to(PACKAGE.parent)))
        problems += checker.problems
        subprocess_calls += checker.subprocess_calls
    assert problems == []
    # The walk does see subprocess calls (the test servers of ray_eval/testing/prometheus.py start binaries).
    assert subprocess_calls >= 1


@pytest.mark.parametrize("snippet", [
    'import subprocess\nsubprocess.run(f"convert {path} out.png", shell=True)',
    'import subprocess as sp\nsp.Popen(["ls", name], shell=flag)',
    'from subprocess import check_output as co\nco("ffprobe " + path)',
    'from subprocess import run\nrun(f"ffmpeg -i {path}")',
    'import subprocess\nsubprocess.call(command)',
    'import subprocess\nsubprocess.run(args=" ".join(parts))',
    'import os\nos.system("rm -rf " + folder)',
    'from os import popen\npopen(command).read()',
    'import subprocess\nsubprocess.getoutput(f"file {path}")',
    'import subprocess\nsubprocess.getstatusoutput(command)',
    'import asyncio\nasyncio.create_subprocess_shell(command)',
    'import asyncio\nasync def f(loop):\n    await loop.subprocess_shell(factory, command)',
    'import os.path, subprocess\nsubprocess.check_call(os.path.join(a, b))',
])
def test_the_check_catches_shell_commands(snippet: str) -> None:
    assert check_source(snippet).problems != []


@pytest.mark.parametrize("snippet", [
    'import subprocess\nsubprocess.run(["convert", path, "out.png"], check=True)',
    'import subprocess\nsubprocess.Popen([binary, *arguments], shell=False, stdout=log)',
    'from subprocess import check_output\ncheck_output(("ffprobe", "-v", "error", path))',
    'import asyncio\nasyncio.create_subprocess_exec("ffprobe", path)',
    'import os\nos.path.join("a", "b")',
])
def test_the_check_accepts_argv_lists(snippet: str) -> None:
    assert check_source(snippet).problems == []
