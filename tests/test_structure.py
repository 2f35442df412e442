"""The shape of the code: imports inside digitlab go one way, scripts and pages use the installed package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from digitlab.paths import ROOT

PACKAGE = ROOT / "digitlab"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """digitlab module -> the digitlab modules it imports anywhere in its body (lazy imports inside
    functions included; a package's ``__init__`` counts as the package)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("digitlab"):
                for alias in node.names:  # "from digitlab.models import artifacts" imports the module digitlab.models.artifacts
                    sub = f"{node.module}.{alias.name}"
                    deps.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("digitlab")}
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_inside_digitlab_lazy_imports_included():
    graph = import_graph()
    assert len(graph) > 30 and graph["digitlab.training.trainer"] >= {"digitlab.training.recipe", "digitlab.models.artifacts"}
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


# Modules split by concept, lowest first: each may import those before it in its list, never one after it.
LAYERS = {
    "models": ["digitlab.models.archive", "digitlab.models.artifacts"],
    "report": ["digitlab.report.schema", "digitlab.report.extractors", "digitlab.report.prose", "digitlab.report.results"],
    "hardening": ["digitlab.hardening.hostile_pictures", "digitlab.hardening.tally", "digitlab.hardening.pool", "digitlab.hardening.fuzz"],
    "serving": ["digitlab.serving.tfjs_env", "digitlab.serving.export"],
    "not a digit": ["digitlab.data.nondigits", "digitlab.evaluation.nondigit_sets"],
}


@pytest.mark.parametrize("concept", LAYERS)
def test_split_modules_import_one_way(concept):
    """A module split by concept stays split: the lower modules never import the higher ones (the vetting of a file
    never lists models; what a figure is never renders one; a generator never runs the harness)."""
    graph = import_graph()
    order = LAYERS[concept]
    assert all(m in graph for m in order), f"a module of {concept} is gone: {order}"
    upward = [(low, high) for i, low in enumerate(order) for high in order[i + 1:] if high in graph[low]]
    assert not upward, f"{concept}: lower modules import higher ones: {upward}"


def test_the_library_never_imports_streamlit():
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not any(n.split(".")[0] == "streamlit" for n in names), path


SCRIPT_FOLDERS = ("training", "evaluation", "app", "web", "tests")  # top-level folders of scripts, pages and tests
LOADERS = {"spec_from_file_location", "SourceFileLoader", "run_path", "run_module", "import_module", "__import__", "exec"}


def script_imports(tree: ast.AST) -> list[str]:
    """What in a module's syntax tree imports a script: an import of a top-level script folder (``import
    evaluation.predict``, ``from training import train_cnn``) or a call that loads code from a path or a
    name given at run time (importlib's ``spec_from_file_location``, ``runpy``, ``exec``, ...)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in SCRIPT_FOLDERS]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] in SCRIPT_FOLDERS:
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
            if name in LOADERS:
                found.append(f"{name}(...) at line {node.lineno}")
    return found


def test_the_script_import_check_finds_each_way_in():
    source = """
import evaluation.predict
from training import train_cnn
import importlib.util
spec = importlib.util.spec_from_file_location("p", "evaluation/predict.py")
import runpy; runpy.run_path("training/train_cnn.py")
from digitlab.serving import predict  # the library: fine
"""
    assert script_imports(ast.parse(source)) == ["import evaluation.predict", "from training import ...",
                                                 "spec_from_file_location(...) at line 5", "run_path(...) at line 6"]


def test_no_library_module_imports_a_script():
    """A script is thin and calls the library, never the other way round: what a script computes that the
    library needs (the predict contract, say) belongs in the library."""
    offenders = {p.relative_to(ROOT).as_posix(): found for p in PACKAGE.rglob("*.py") if (found := script_imports(ast.parse(p.read_text())))}
    assert not offenders, f"library modules that import or load a script: {offenders}"


def test_the_smoke_flag_has_one_name(capsys):
    """Every script's smoke mode is --dry-run (cli.add_dry_run); the older --quick still runs, unseen in --help."""
    import argparse

    import pytest

    from digitlab import cli

    by_hand = [p.relative_to(ROOT).as_posix() for p in _scripts() if '"--quick"' in p.read_text() or "'--quick'" in p.read_text()]
    assert not by_hand, f"scripts that name their smoke flag --quick: {by_hand}"
    declared = [p.relative_to(ROOT).as_posix() for p in _scripts() if re.search(r"""add_argument\(\s*["']--dry-run["']""", p.read_text())]
    assert not declared, f"scripts that declare --dry-run by hand, without its --quick alias (use cli.add_dry_run): {declared}"
    p = argparse.ArgumentParser()
    cli.add_dry_run(p, "smoke")
    assert p.parse_args(["--quick"]).dry_run and p.parse_args(["--dry-run"]).dry_run and not p.parse_args([]).dry_run
    with pytest.raises(SystemExit):
        p.parse_args(["--help"])
    shown = capsys.readouterr().out
    assert "--dry-run" in shown and "--quick" not in shown


def test_the_models_a_benchmark_measures_have_one_flag():
    """A script that measures several models declares --model through cli.add_models: one flag, repeatable, one help."""
    import argparse

    from digitlab import cli

    by_hand = [p.relative_to(ROOT).as_posix() for p in _scripts() if re.search(r"""add_argument\(\s*["']--model["'],\s*action=["']append""", p.read_text())]
    assert not by_hand, f"scripts that declare a repeatable --model by hand (use cli.add_models): {by_hand}"
    p = argparse.ArgumentParser()
    cli.add_models(p, "model name in models/")
    assert p.parse_args([]).model is None
    assert p.parse_args(["--model", "a", "--model", "b.keras"]).model == ["a", "b.keras"]
    assert "model name in models/; repeatable" in p.format_help()


CLI_LAYERS = ("digitlab/cli.py", "digitlab/training/cli.py")  # the library's command-line halves: flags are their words
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")


def project_flags() -> set[str]:
    """Every flag a script, or a CLI layer of the library, defines (``add_argument("--x", ...)``)."""
    flags = set()
    files = [*_scripts(), *(ROOT / f for f in CLI_LAYERS)]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
                flags.update(a.value for a in node.args if isinstance(a, ast.Constant) and str(a.value).startswith("--"))
    return flags


def flags_in_errors(source: str, flags: set[str]) -> list[str]:
    """The project's flags named by the text of a raised exception in ``source``: a constant or f-string part
    inside ``raise ...``.  A whole command to run (``python evaluation/export.py --setup-tfjs``) is not a flag
    of the call that failed, and another program's flags (``converter --version``) are not ours."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for part in ast.walk(node.exc):
                if isinstance(part, ast.Constant) and isinstance(part.value, str) and "python " not in part.value:
                    found += [f"{flag} at line {node.lineno}" for flag in FLAG.findall(part.value) if flag in flags]
    return found


def test_the_flag_check_finds_a_flag_in_an_error():
    flags = {"--init-from", "--alpha"}
    source = '''
def f(path, alpha):
    """Use --init-from; a docstring may show the command line."""
    if alpha > 1:
        raise ValueError(f"--alpha {alpha}: too big")
    raise InitError(f"init_from={path!r}: " + "no --version; run `python training/x.py --init-from F`")
'''
    assert flags_in_errors(source, flags) == ["--alpha at line 5"]


def test_library_errors_name_parameters_not_flags():
    """A library error names the parameter (``init_from='x.keras'``), and a script turns it into its flag
    (``cli.in_flags``): the library is called by the app and by tests too, which have no flags."""
    flags = project_flags()
    assert {"--init-from", "--mnist", "--dry-run", "--overwrite", "--alpha"} <= flags
    offenders = {p.relative_to(ROOT).as_posix(): found for p in PACKAGE.rglob("*.py")
                 if p.relative_to(ROOT).as_posix() not in CLI_LAYERS and (found := flags_in_errors(p.read_text(), flags))}
    assert not offenders, f"library errors that name command-line flags: {offenders}"


def test_a_script_names_its_flags_in_a_library_error():
    import argparse

    from digitlab import cli

    p = argparse.ArgumentParser()
    p.add_argument("--init-from")
    p.add_argument("--init-member", type=int)
    p.add_argument("--distribute")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--name")
    cli.add_dry_run(p)  # and its hidden alias --quick, never shown
    said = [
        ("init_from='runs/a b.keras': no such layer; pick a member with init_member.", "--init-from 'runs/a b.keras': no such layer; pick a member with --init-member."),
        ("distribute='multiworker' needs TF_CONFIG='{\"task\": 1}'", "--distribute multiworker needs TF_CONFIG='{\"task\": 1}'"),
        ("a model named 'm' already exists; pass overwrite=True, or another name=NAME", "a model named 'm' already exists; pass --overwrite, or another --name NAME"),
        ("dry_run=True keeps nothing", "--dry-run keeps nothing"),
        ("the name of runs/init_from/init_member.keras, and alpha=2", "the name of runs/init_from/init_member.keras, and alpha=2"),  # words, paths, other parameters
    ]
    for message, shown in said:
        assert cli.in_flags(message, p) == shown


def test_scripts_and_pages_do_not_edit_sys_path():
    offenders = [p.relative_to(ROOT).as_posix() for folder in ("training", "evaluation", "app", "web")
                 for p in (ROOT / folder).rglob("*.py") if "sys.path" in p.read_text()]
    assert not offenders, f"edit sys.path (the package is installed: pip install -e .): {offenders}"


def test_no_cycle_between_the_sub_packages():
    """data, models, training, serving, evaluation and report depend on each other one way only."""
    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    graph: dict[str, set[str]] = {}
    for module, deps in import_graph().items():
        graph.setdefault(package(module), set()).update(package(d) for d in deps if package(d) != package(module))
    for deps in list(graph.values()):
        for d in deps:
            graph.setdefault(d, set())
    assert find_cycle(graph) is None, f"cycle between sub-packages: {' -> '.join(find_cycle(graph))}"


# ----------------------------------------------------------------------------- thin pages and scripts

PAGE_LINES = 150  # a page lays out; what it shows is computed in digitlab
SCRIPT_CODE_LINES = 80  # a script parses its arguments and calls digitlab; its module docstring does not count


def _code_lines(path: Path) -> tuple[int, str]:
    """(lines after the module docstring, the docstring)."""
    source = path.read_text()
    tree = ast.parse(source)
    doc = ast.get_docstring(tree) or ""
    skip = tree.body[0].end_lineno if doc else 0
    return len(source.splitlines()) - skip, doc


def _pages() -> list[Path]:
    return [ROOT / "app" / "Home.py", *sorted((ROOT / "app" / "pages").glob("*.py"))]


def _scripts() -> list[Path]:
    return [p for folder in ("training", "evaluation", "web") for p in sorted((ROOT / folder).glob("*.py"))]


def test_the_rules_see_every_page_and_script():
    assert len(_pages()) >= 9 and {p.name for p in _scripts()} >= {"predict.py", "train_advanced.py", "build.py"}


def test_pages_are_thin():
    long = {p.relative_to(ROOT).as_posix(): n for p in _pages() if (n := len(p.read_text().splitlines())) > PAGE_LINES}
    assert not long, f"pages over {PAGE_LINES} lines (move what they compute into digitlab, or a component beside them): {long}"


def test_long_scripts_say_why():
    from digitlab.cli import LONG_SCRIPT

    silent = {p.relative_to(ROOT).as_posix(): n for p in _scripts()
              if (n := _code_lines(p)[0]) > SCRIPT_CODE_LINES and LONG_SCRIPT not in _code_lines(p)[1]}
    assert not silent, f"scripts over {SCRIPT_CODE_LINES} lines of code whose docstring does not say why ('{LONG_SCRIPT} ...'): {silent}"


def test_the_why_is_left_out_of_help(capsys):
    import pytest

    from digitlab.cli import LONG_SCRIPT, parser

    with pytest.raises(SystemExit):
        parser(f"usage line\n\nwhat it does\n\n{LONG_SCRIPT} of reasons.").parse_args(["--help"])
    out = capsys.readouterr().out
    assert "what it does" in out and LONG_SCRIPT not in out
