"""``make mutation``: sampled mutation testing of the core modules.

Each core module gets AST mutants of the kinds issue 14 lists (flipped comparisons, negated
conditions, swapped and/or, constants ±1 and booleans flipped, deleted statements), only in
code inside functions (module-level tables are configuration, not behaviour). A fixed seed
picks a sample per module; each sampled mutant runs against the module's own tests
(``pytest -x``) in a copy of the tree, so the work tree is never modified, whatever happens
to this process. Mutants listed in bench/mutation_equivalents.toml (with the reason they
cannot be told apart from the original) are left out of the score.

Writes bench/MUTATION.md. ``--list`` shows a module's mutants (to maintain the list of
equivalents) without running anything.
"""

from __future__ import annotations

import argparse
import ast
import copy
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    source: str
    # The module's own test folder(s) or files.
    tests: tuple[str, ...]
    # Test files of those folders to run first: with -x, a killed mutant ends sooner.
    first: tuple[str, ...] = ()
    # Qualified-name prefixes to mutate (classes or functions); empty: the whole module.
    scope: tuple[str, ...] = ()

    def test_files(self, root: Path) -> list[str]:
        """Every test file of ``tests`` in the tree at ``root`` (the run's copy: a test file
        added to the work tree since is not in it), ``first`` first (pytest keeps the order
        of files named on its command line, not of folders)."""
        files: list[str] = list(self.first)
        for entry in self.tests:
            path = root / entry
            found = sorted(path.rglob("test_*.py")) if path.is_dir() else [path]
            files += [str(f.relative_to(root)) for f in found]
        return list(dict.fromkeys(files))


# The core modules and the tests that own them. A module that moves is a one-line edit here;
# a new service's decision core is one new line.
TARGETS: dict[str, Target] = {
    "outbox relay": Target(
        "libs/events/src/helpdesk_events/outbox.py",
        ("tests/events",),
        first=(
            "tests/events/test_outbox_constraints.py",
            "tests/events/test_relay_behaviour.py",
            "tests/events/test_outbox_relay.py",
        ),
    ),
    "consumer runner": Target(
        "libs/events/src/helpdesk_events/consumer.py",
        ("tests/events",),
        first=("tests/events/test_consumer_runner.py", "tests/events/test_async_commit.py"),
        scope=("ConsumerRunner", "_PartitionProgress", "_CommitOnRevoke", "HandlerContext"),
    ),
    "conditions: python": Target(
        "libs/conditions/src/helpdesk_conditions/python.py",
        ("tests/conditions",),
        first=(
            "tests/conditions/test_python.py",
            "tests/conditions/test_changed_operators.py",
            "tests/conditions/test_custom_dates.py",
            "tests/conditions/test_explain_agreement.py",
        ),
    ),
    "conditions: sql": Target(
        "libs/conditions/src/helpdesk_conditions/sql.py",
        ("tests/conditions",),
        first=("tests/conditions/test_sql.py", "tests/conditions/test_custom_dates.py"),
    ),
    "ticket editor": Target(
        "services/ticket-api/src/helpdesk_ticket_api/tickets/changes.py",
        ("tests/ticket_api",),
        first=(
            "tests/ticket_api/test_editor_timestamps.py",
            "tests/ticket_api/test_lifecycle.py",
            "tests/ticket_api/test_messages.py",
            "tests/ticket_api/test_actions.py",
        ),
    ),
    "ticket history": Target(
        "services/ticket-api/src/helpdesk_ticket_api/tickets/history.py",
        ("tests/ticket_api",),
        first=("tests/ticket_api/test_history.py", "tests/ticket_api/test_lifecycle.py"),
    ),
    "rule planner": Target(
        "libs/rule-actions/src/helpdesk_rule_actions/plan.py",
        ("tests/rule_engine",),
        first=(
            "tests/rule_engine/test_template_placeholders.py",
            "tests/rule_engine/test_actions.py",
        ),
    ),
    "router choice": Target(
        "services/router/src/helpdesk_router/routing/choice.py",
        ("tests/router",),
        first=("tests/router/test_choice.py", "tests/router/test_distribution.py"),
    ),
    "business time": Target(
        "services/sla-tracker/src/helpdesk_sla_tracker/calendars/business_time.py",
        ("tests/sla_tracker",),
        first=("tests/sla_tracker/calendars/test_business_time.py",),
    ),
    "scheduler episodes": Target(
        "services/scheduler/src/helpdesk_scheduler/ticks/episodes.py",
        ("tests/scheduler",),
        first=("tests/scheduler/test_episodes.py", "tests/scheduler/test_ticks.py"),
    ),
    "delivery retries": Target(
        "services/notifier/src/helpdesk_notifier/delivery/schedule.py",
        ("tests/notifier",),
        first=("tests/notifier/test_http_delivery.py", "tests/notifier/test_api.py"),
    ),
}

EQUIVALENTS = ROOT / "bench" / "mutation_equivalents.toml"
REPORT = ROOT / "bench" / "MUTATION.md"
SEED = 14
SAMPLE = 8
BUDGET_MINUTES = 28.0
TARGET_SCORE = 0.9
# Not copied: tooling, caches, local data, and bench/ itself (no test reads it).
SKIPPED_IN_COPY = (
    ".git",
    ".venv",
    ".tools",
    ".local",
    "bench",
    "__pycache__",
    ".hypothesis",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
)

# -- mutants ---------------------------------------------------------------------------------

_COMPARISON_FLIPS: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.Lt: (ast.GtE, ast.LtE),
    ast.LtE: (ast.Gt, ast.Lt),
    ast.Gt: (ast.LtE, ast.GtE),
    ast.GtE: (ast.Lt, ast.Gt),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
}
_LOGGERS = {"log", "logger", "logging"}
_NOT_DELETED = (
    ast.Pass,
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Global,
    ast.Nonlocal,
    ast.Assert,
)


@dataclass(frozen=True)
class Mutant:
    target: str
    line: int
    scope: str
    kind: str
    before: str
    after: str
    # Repeats of the same change in the same scope are told apart by their order.
    occurrence: int = 1
    source: str = field(default="", repr=False, compare=False)

    @property
    def key(self) -> str:
        repeat = f" #{self.occurrence}" if self.occurrence > 1 else ""
        return f"{self.scope}: {self.before} -> {self.after}{repeat}"


@dataclass(frozen=True)
class _Site:
    """Where a node sits: its qualified scope, and whether it may be mutated at all."""

    scope: str
    mutable: bool


def _short(node: ast.AST, limit: int = 90) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_logging(statement: ast.stmt) -> bool:
    if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
        return False
    function = statement.value.func
    return (
        isinstance(function, ast.Attribute)
        and isinstance(function.value, ast.Name)
        and function.value.id in _LOGGERS
    )


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _sites(tree: ast.Module, scope_prefixes: tuple[str, ...]) -> dict[int, _Site]:
    """For each node (by id): its scope, and whether it is code inside a function of the
    target's scope, outside annotations, assertions and f-string formatting."""
    sites: dict[int, _Site] = {}

    def visit(node: ast.AST, scope: list[str], in_function: bool, excluded: bool) -> None:
        qualified = ".".join(scope) or "<module>"
        in_scope = not scope_prefixes or any(
            qualified == p or qualified.startswith(p + ".") for p in scope_prefixes
        )
        sites[id(node)] = _Site(qualified, in_function and in_scope and not excluded)
        inner_scope, inner_function = scope, in_function
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            inner_scope = [*scope, node.name]
            inner_function = in_function or not isinstance(node, ast.ClassDef)
        for name, value in ast.iter_fields(node):
            skip = (
                excluded
                or name in ("annotation", "returns")
                or isinstance(node, ast.Assert | ast.JoinedStr)
            )
            children = value if isinstance(value, list) else [value]
            for child in children:
                if isinstance(child, ast.AST):
                    visit(child, inner_scope, inner_function, skip)

    visit(tree, [], False, False)
    return sites


def _negated(test: ast.expr) -> ast.expr:
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return test.operand
    return ast.UnaryOp(op=ast.Not(), operand=test)


# Applied to the same node in a copy of the tree: changes it in place, or returns the code
# that replaces it. Returns (the code before, the code after, whether the node is replaced).
Edit = Callable[[ast.AST], tuple[ast.AST, ast.AST, bool]]


def _flip_comparison(position: int, replacement: type[ast.cmpop]) -> Edit:
    def apply(node: ast.AST) -> tuple[ast.AST, ast.AST, bool]:
        assert isinstance(node, ast.Compare)
        before = copy.deepcopy(node)
        node.ops[position] = replacement()
        return before, node, False

    return apply


def _swap_and_or(node: ast.AST) -> tuple[ast.AST, ast.AST, bool]:
    assert isinstance(node, ast.BoolOp)
    before = copy.deepcopy(node)
    node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    return before, node, False


def _drop_not(node: ast.AST) -> tuple[ast.AST, ast.AST, bool]:
    assert isinstance(node, ast.UnaryOp)
    return copy.deepcopy(node), node.operand, True


def _set_constant(value: bool | int | float) -> Edit:
    def apply(node: ast.AST) -> tuple[ast.AST, ast.AST, bool]:
        assert isinstance(node, ast.Constant)
        before = copy.deepcopy(node)
        node.value = value
        return before, node, False

    return apply


def _negate_test(node: ast.AST) -> tuple[ast.AST, ast.AST, bool]:
    assert isinstance(node, ast.If | ast.While | ast.IfExp)
    before = copy.deepcopy(node.test)
    node.test = _negated(node.test)
    return before, node.test, False


def _negate_filter(position: int) -> Edit:
    def apply(node: ast.AST) -> tuple[ast.AST, ast.AST, bool]:
        assert isinstance(node, ast.comprehension)
        before = copy.deepcopy(node.ifs[position])
        node.ifs[position] = _negated(node.ifs[position])
        return before, node.ifs[position], False

    return apply


def _delete_statement(name: str, position: int) -> Edit:
    def apply(node: ast.AST) -> tuple[ast.AST, ast.AST, bool]:
        statements: list[ast.stmt] = getattr(node, name)
        before = statements[position]
        statements[position] = ast.copy_location(ast.Pass(), before)
        return before, statements[position], False

    return apply


def _edits(node: ast.AST) -> Iterator[tuple[str, Edit]]:
    """(kind, edit) for each mutant of one node."""
    if isinstance(node, ast.Compare):
        for position, op in enumerate(node.ops):
            for replacement in _COMPARISON_FLIPS.get(type(op), ()):
                yield "comparison", _flip_comparison(position, replacement)
    elif isinstance(node, ast.BoolOp):
        yield "and/or", _swap_and_or
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "negation", _drop_not
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield "constant", _set_constant(not node.value)
    elif isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        yield "constant", _set_constant(node.value + 1)
        yield "constant", _set_constant(node.value - 1)
    if isinstance(node, ast.If | ast.While | ast.IfExp):
        yield "negation", _negate_test
    if isinstance(node, ast.comprehension):
        for position in range(len(node.ifs)):
            yield "negation", _negate_filter(position)
    for name, value in ast.iter_fields(node):
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            for position, statement in enumerate(value):
                if isinstance(statement, _NOT_DELETED) or _is_docstring(statement):
                    continue
                if _is_logging(statement):
                    continue
                yield "deletion", _delete_statement(name, position)


class _Replace(ast.NodeTransformer):
    """Puts ``new`` where ``old`` is (by identity)."""

    def __init__(self, old: ast.AST, new: ast.AST) -> None:
        self.old, self.new = old, new

    def visit(self, node: ast.AST) -> ast.AST:
        if node is self.old:
            return self.new
        visited: ast.AST = super().visit(node)
        return visited


def enumerate_mutants(name: str, target: Target) -> list[Mutant]:
    path = ROOT / target.source
    original = path.read_text()
    tree = ast.parse(original)
    sites = _sites(tree, target.scope)
    nodes = list(ast.walk(tree))
    mutants: list[Mutant] = []
    seen_sources = {ast.unparse(tree)}
    occurrences: dict[str, int] = {}
    for index, node in enumerate(nodes):
        site = sites[id(node)]
        if not site.mutable:
            continue
        for kind, edit in _edits(node):
            mutated_tree = copy.deepcopy(tree)
            mutated_node = list(ast.walk(mutated_tree))[index]
            before, after, replaces = edit(mutated_node)
            if replaces:
                _Replace(mutated_node, after).visit(mutated_tree)
            source = ast.unparse(ast.fix_missing_locations(mutated_tree))
            if source in seen_sources:
                continue
            seen_sources.add(source)
            before_text, after_text = _short(before), _short(after)
            if kind == "deletion":
                before_text = _short(before, 70).split("\n")[0]
            described = f"{site.scope}: {before_text} -> {after_text}"
            occurrences[described] = occurrences.get(described, 0) + 1
            mutants.append(
                Mutant(
                    target=name,
                    line=getattr(before, "lineno", getattr(node, "lineno", 0)),
                    scope=site.scope,
                    kind=kind,
                    before=before_text,
                    after=after_text,
                    occurrence=occurrences[described],
                    source=source,
                )
            )
    return mutants


def sample(mutants: list[Mutant], size: int, seed: int, name: str) -> list[Mutant]:
    chosen = random.Random(f"{seed}:{name}").sample(mutants, min(size, len(mutants)))
    return sorted(chosen, key=lambda m: (m.line, m.key))


# -- equivalents -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Equivalent:
    target: str
    mutant: str
    reason: str


def load_equivalents() -> list[Equivalent]:
    if not EQUIVALENTS.exists():
        return []
    data = tomllib.loads(EQUIVALENTS.read_text())
    return [
        Equivalent(entry["module"], entry["mutant"], entry["reason"])
        for entry in data.get("equivalent", [])
    ]


# -- running ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed, timeout, survived, equivalent, not run
    seconds: float = 0.0
    detail: str = ""


@dataclass
class ModuleResult:
    name: str
    target: Target
    total: int
    outcomes: list[Outcome] = field(default_factory=list)
    baseline_seconds: float = 0.0
    baseline_failed: str = ""
    # Listed equivalents that match none of the module's mutants (the code changed).
    stale_equivalents: list[str] = field(default_factory=list)

    def count(self, *statuses: str) -> int:
        return sum(o.status in statuses for o in self.outcomes)

    @property
    def score(self) -> float | None:
        judged = self.count("killed", "timeout", "survived")
        return None if judged == 0 else self.count("killed", "timeout") / judged


class Sandbox:
    """A copy of the tree whose source directories come first on the tests' import path."""

    def __init__(self) -> None:
        self._temp = Path(tempfile.mkdtemp(prefix="helpdesk-mutation-"))
        self.root = self._temp / "tree"
        shutil.copytree(ROOT, self.root, ignore=shutil.ignore_patterns(*SKIPPED_IN_COPY))
        sources = sorted(str(p) for p in self.root.glob("*/*/src") if p.is_dir())
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([*sources, str(self.root)]),
            # Mutants are written within the same second; compiled caches keyed on the
            # source's mtime could serve the previous one.
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def remove(self) -> None:
        shutil.rmtree(self._temp, ignore_errors=True)

    def run_tests(self, tests: list[str], seed: int, timeout: float) -> tuple[int | None, str]:
        """Exit status (None on timeout) and the pytest output's summary lines."""
        shutil.rmtree(self.root / ".hypothesis", ignore_errors=True)
        command = [
            sys.executable,
            "-m",
            "pytest",
            *tests,
            "-x",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--hypothesis-seed={seed}",
            f"--timeout={int(timeout)}",
        ]
        process = subprocess.Popen(
            command,
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            # An interrupt lets pytest tear its PostgreSQL cluster and broker down.
            os.killpg(process.pid, signal.SIGINT)
            try:
                output, _ = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                output, _ = process.communicate()
            return None, _summary(output)
        return process.returncode, _summary(output)


def _summary(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith(("FAILED ", "ERROR ", "E   "))]
    return lines[0][:200] if lines else (output.strip().splitlines() or [""])[-1][:200]


def run_baselines(sandbox: Sandbox, results: list[ModuleResult], seed: int) -> None:
    """The unmutated tests, once per set of test files: they must pass, and their time sets
    the mutants' timeout."""
    seen: dict[frozenset[str], tuple[float, str]] = {}
    for result in results:
        tests = result.target.test_files(sandbox.root)
        key = frozenset(tests)
        if key not in seen:
            started = time.monotonic()
            status, summary = sandbox.run_tests(tests, seed, timeout=1800)
            failure = "" if status == 0 else summary or f"exit status {status}"
            seen[key] = (time.monotonic() - started, failure)
            print(f"{result.name}: unmutated tests {seen[key][0]:.0f} s {failure}", flush=True)
        result.baseline_seconds, result.baseline_failed = seen[key]


def run_mutant(sandbox: Sandbox, result: ModuleResult, mutant: Mutant, seed: int) -> Outcome:
    mutated_file = sandbox.root / result.target.source
    original = mutated_file.read_text()
    timeout = max(60.0, 3 * result.baseline_seconds)
    mutated_file.write_text(mutant.source)
    began = time.monotonic()
    try:
        status, summary = sandbox.run_tests(result.target.test_files(sandbox.root), seed, timeout)
    finally:
        mutated_file.write_text(original)
    seconds = time.monotonic() - began
    if status is None:
        return Outcome(mutant, "timeout", seconds, f"no result within {timeout:.0f} s")
    if status == 0:
        return Outcome(mutant, "survived", seconds)
    return Outcome(mutant, "killed", seconds, summary)


def run_all(
    sandbox: Sandbox,
    plans: list[tuple[ModuleResult, list[Mutant], set[str]]],
    seed: int,
    deadline: float,
) -> None:
    """Mutants of all modules in turn (one of each, then the next of each...), so a spent
    time budget leaves every module with a share of its sample run."""
    run_baselines(sandbox, [result for result, _, _ in plans], seed)
    per_module = [
        [(result, mutant, mutant.key in equivalents) for mutant in chosen]
        for result, chosen, equivalents in plans
    ]
    queue = [
        entry
        for round_ in itertools.zip_longest(*per_module)
        for entry in round_
        if entry is not None
    ]
    for result, mutant, equivalent in queue:
        if result.baseline_failed:
            continue
        if equivalent:
            outcome = Outcome(mutant, "equivalent")
        elif time.monotonic() > deadline:
            outcome = Outcome(mutant, "not run", detail="time budget spent")
        else:
            outcome = run_mutant(sandbox, result, mutant, seed)
            print(
                f"  {outcome.status:8} {outcome.seconds:6.1f}s  {result.name}, line "
                f"{mutant.line}: {mutant.key}",
                flush=True,
            )
        result.outcomes.append(outcome)
    for result, _, _ in plans:
        result.outcomes.sort(key=lambda o: (o.mutant.line, o.mutant.key))


# -- report ----------------------------------------------------------------------------------

HEADER = """# Mutation testing (`make mutation`)

Sampled mutation testing of the core modules (issue 14): AST mutants of the kinds the issue
lists — flipped comparisons (`==`/`!=`, `<`/`>=`/`<=`, `is`/`is not`, `in`/`not in`),
negated conditions (`if`, `while`, conditional expressions, comprehension filters, a `not`
removed), `and`/`or` swapped, constants ±1 and booleans flipped, statements deleted — in
code inside functions only, leaving out assertions, logging calls and annotations. A fixed
seed picks a sample per module; each mutant runs against the module's own test folder
(`pytest -x`, a timeout of three times the unmutated run, at least a minute) in a copy of
the tree, so the work tree is never modified. A mutant is killed when its tests fail or time
out. Equivalent mutants (bench/mutation_equivalents.toml: no test could tell them from the
original, with the reason) are not run and not counted. Score = killed / (killed +
survived). Modules take turns, one mutant each, within a time budget (28 minutes by
default, so a run stays under half an hour); what the budget leaves is listed as not run.

**Why a script and not mutmut or cosmic-ray.** Both are maintained and on PyPI (mutmut
3.8, cosmic-ray 8.7). mutmut 3 runs every function through a trampoline and forks workers
from a pytest process that has collected the tests; its stats run needs the whole suite,
and it mutates everything it covers, with no seeded sample. Our tests start a PostgreSQL
cluster and a broker per pytest session and run on asyncio, which a forked worker would
share. cosmic-ray runs a test command per mutant as we do, but with one test command per
session (a SQLite file and a config per module) and a much larger operator set to filter
down to the issue's; a seeded sample of a fixed size is not one of its features as far as
its documentation shows. The issue's operators, a seed, the module → tests table and
the equivalents list take this one file (bench/mutation.py) and no new dependency.

`make mutation` runs every module; `make mutation MUTATION_ARGS='--module "outbox relay"
--sample 8'` narrows it; `--list` prints a module's mutants with their keys.
"""


def current_commit() -> str:
    """HEAD, marked when the work tree differs from it (the run copies the work tree)."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"{head or 'unknown'}{' with uncommitted changes' if changed else ''}"


def render_report(
    results: list[ModuleResult],
    args: argparse.Namespace,
    equivalents: list[Equivalent],
    seconds: float,
    commit: str,
) -> str:
    lines = [HEADER]
    lines += [
        "## This run",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, the tree at commit `{commit}`, seed "
        f"{args.seed}, sample {args.sample} per module, budget {args.budget:g} minutes; "
        f"took {seconds / 60:.1f} minutes on {os.cpu_count()} cores "
        "(shared with other work: times are not benchmarks).",
        "",
        "| module | tests | mutants | sampled | equivalent | killed | survived | not run | score |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    run_names = {r.name for r in results}
    for r in results:
        score = r.score
        shown = "—" if score is None else f"{score:.0%}" + ("" if score >= TARGET_SCORE else " ✗")
        if r.baseline_failed:
            shown = "baseline failed"
        lines.append(
            f"| {r.name} | {', '.join(r.target.tests)} | {r.total} | {len(r.outcomes)} "
            f"| {r.count('equivalent')} | {r.count('killed', 'timeout')} "
            f"| {r.count('survived')} | {r.count('not run')} | {shown} |"
        )
    for name in TARGETS:
        if name not in run_names:
            lines.append(f"| {name} | {', '.join(TARGETS[name].tests)} | | | | | | | not run |")
    lines += [
        "",
        f"Target: at least {TARGET_SCORE:.0%} of non-equivalent mutants killed (✗: below).",
    ]
    for r in results:
        lines += ["", f"### {r.name} (`{r.target.source}`)", ""]
        if r.baseline_failed:
            lines += [f"The unmutated tests failed: `{r.baseline_failed}`; nothing was run."]
            continue
        lines.append(f"Unmutated tests: {r.baseline_seconds:.0f} s.")
        if r.stale_equivalents:
            stale = ", ".join(f"`{key}`" for key in r.stale_equivalents)
            lines += ["", f"Listed as equivalent but no longer among its mutants: {stale}."]
        lines += ["", "| line | kind | mutant | result | seconds | first failure |"]
        lines.append("|---|---|---|---|---|---|")
        for o in r.outcomes:
            mutant = o.mutant.key.replace("|", "\\|")
            detail = o.detail.replace("|", "\\|")
            lines.append(
                f"| {o.mutant.line} | {o.mutant.kind} | `{mutant}` | {o.status} "
                f"| {o.seconds:.0f} | {detail} |"
            )
    listed = [e for e in equivalents if e.target in run_names]
    if listed:
        lines += ["", "## Equivalent mutants", "", "| module | mutant | why no test can kill it |"]
        lines.append("|---|---|---|")
        for e in listed:
            lines.append(f"| {e.target} | `{e.mutant}` | {e.reason} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--module", action="append", choices=sorted(TARGETS), help="repeatable; default: all"
    )
    parser.add_argument("--sample", type=int, default=SAMPLE, help="mutants per module")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--budget", type=float, default=BUDGET_MINUTES, help="minutes")
    parser.add_argument("--report", type=Path, default=REPORT)
    parser.add_argument("--list", action="store_true", help="print the mutants and stop")
    args = parser.parse_args()
    names = args.module or list(TARGETS)
    equivalents = load_equivalents()

    if args.list:
        for name in names:
            for mutant in enumerate_mutants(name, TARGETS[name]):
                print(f"{name}\t{mutant.line}\t{mutant.kind}\t{mutant.key}")
        return

    started = time.monotonic()
    deadline = started + args.budget * 60
    commit = current_commit()
    results: list[ModuleResult] = []
    plans: list[tuple[ModuleResult, list[Mutant], set[str]]] = []
    for name in names:
        target = TARGETS[name]
        mutants = enumerate_mutants(name, target)
        chosen = sample(mutants, args.sample, args.seed, name)
        print(f"{name}: {len(chosen)} of {len(mutants)} mutants", flush=True)
        result = ModuleResult(name, target, len(mutants))
        known = {e.mutant for e in equivalents if e.target == name}
        result.stale_equivalents = sorted(known - {m.key for m in mutants})
        results.append(result)
        plans.append((result, chosen, known))
    sandbox = Sandbox()
    try:
        run_all(sandbox, plans, args.seed, deadline)
    finally:
        sandbox.remove()
    report = render_report(results, args, equivalents, time.monotonic() - started, commit)
    args.report.write_text(report)
    print(f"wrote {args.report}")


if __name__ == "__main__":
    main()
