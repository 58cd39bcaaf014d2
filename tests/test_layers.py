"""Imports point down the layers, make no circle, and the core never imports Discord.

Read from the source (every import statement, also those inside functions and under
``TYPE_CHECKING``), so an arrow that points the wrong way fails here the day it is written.
The layers are those of docs/architecture.md.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("bot", "cogs")

# The parts of the code, by layer, bottom up. A module belongs to the part that names it or
# its package; a module no part names fails the test, so each new module gets a place.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "bot.settings",
        "bot.errors",
        "bot.models",
        "bot.limits",
        "bot.money",
        "bot.origins",
        "bot.text",
        "bot.retry",
        "bot.jobs",
        "bot.handles",
        "bot.logs",
        "bot.heartbeat",
        "bot.loopwatch",
    ),
    (
        "bot.providers",
        "bot.storage",
        "bot.images",
        "bot.safety",
        "bot.charts",
        "bot.exports",
        "bot.explain",
        "bot.nsfw",
    ),
    ("bot.pipeline",),
    ("cogs", "bot.cli", "bot.app", "bot.__main__", "bot.startup"),
)
BOTTOM, MIDDLE = 0, 1

# Parts of the middle layer that may use one another, and why; the others stand apart.
SIDEWAYS = {
    ("bot.providers", "bot.images"): "a provider's images are decoded through images.probe",
    ("bot.exports", "bot.storage"): "the CSV is written from storage's records",
    ("bot.nsfw", "bot.images"): "the classifier reads images through the guarded entry",
}

# The Discord layer reaches the pipeline, the providers and storage only through the facade.
DOOR = "bot.pipeline.facade"
BEHIND_THE_DOOR = ("bot.pipeline", "bot.providers", "bot.storage")

# Who may import the Discord client and its launcher: nothing in cogs/ imports them back.
# (cogs.catalogues builds the client only to read its command tree for the catalogues.)
ONLY_FROM = {
    "cogs.client": {"cogs.launcher"},
    "cogs.launcher": {"bot.__main__", "cogs.catalogues"},
}

# Arrows allowed against the rules (none: keep it so).
KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()
KNOWN_CIRCLES: list[list[str]] = []


def module_name(path: Path) -> str:
    """``bot/pipeline/service.py`` → ``bot.pipeline.service`` (a package: its own name)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the bot and the Discord layer, by name."""
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """What the module imports, as module names (``from x import y``: x.y when a module)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield full if full in known else base


def within(module: str, part: str) -> bool:
    """Whether ``module`` is ``part`` or inside the package ``part``."""
    return module == part or module.startswith(part + ".")


def part_of(module: str) -> tuple[int, str] | None:
    """The layer and the part a module belongs to (None for what is not ours)."""
    found: tuple[int, str] | None = None
    for layer, parts in enumerate(LAYERS):
        for part in parts:
            if within(module, part) and (found is None or len(part) > len(found[1])):
                found = (layer, part)
    return found


def ours(module: str) -> bool:
    return module.split(".")[0] in PACKAGES and module not in PACKAGES


def known_exception(importer: str, imported: str) -> bool:
    return any(within(importer, a) and imported == b for a, b in KNOWN_EXCEPTIONS)


GRAPH: dict[str, set[str]] = {}
for _name, _path in modules().items():
    GRAPH[_name] = set(imports(_name, _path, set(modules())))


def test_every_module_has_a_layer() -> None:
    assert [m for m in GRAPH if ours(m) and part_of(m) is None] == []


def test_imports_point_down() -> None:
    wrong = []
    for importer, targets in GRAPH.items():
        here = part_of(importer)
        if here is None:
            continue
        for imported in targets:
            there = part_of(imported)
            if there is None or there[1] == here[1] or known_exception(importer, imported):
                continue
            if there[0] > here[0]:
                wrong.append(f"{importer} -> {imported} (up a layer)")
            elif there[0] == here[0] == MIDDLE and (here[1], there[1]) not in SIDEWAYS:
                wrong.append(f"{importer} -> {imported} (sideways in the middle layer)")
    assert wrong == [], "\n".join(wrong)


def arrows(source: str, target: Callable[[str], bool]) -> list[str]:
    """Every import from the package ``source`` that ``target`` picks, as "a -> b"."""
    return [
        f"{importer} -> {imported}"
        for importer, targets in GRAPH.items()
        if within(importer, source)
        for imported in sorted(targets)
        if target(imported) and not known_exception(importer, imported)
    ]


def test_the_core_never_imports_discord() -> None:
    found = arrows("bot", lambda imported: within(imported, "discord"))
    assert found == [], "\n".join(found)


def test_the_discord_layer_goes_through_the_facade() -> None:
    behind = arrows(
        "cogs",
        lambda imported: (
            imported != DOOR and any(within(imported, part) for part in BEHIND_THE_DOOR)
        ),
    )
    assert behind == [], "\n".join(behind)


@pytest.mark.parametrize("module", sorted(ONLY_FROM))
def test_nothing_imports_the_client_or_the_launcher_back(module: str) -> None:
    importers = {name for name, targets in GRAPH.items() if module in targets}
    assert importers <= ONLY_FROM[module]


def test_there_is_no_import_circle() -> None:
    new = [circle for circle in circles(GRAPH) if circle not in KNOWN_CIRCLES]
    assert new == [], "\n".join(" <-> ".join(circle) for circle in new)


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_checks_catch_what_they_are_for() -> None:
    """The rules above, shown failing on made-up arrows, so none of them passes vacuously."""
    assert part_of("bot.pipeline.service") == (2, "bot.pipeline")
    assert part_of("bot.storage.sqlite.jobs") == (1, "bot.storage")
    assert part_of("bot.somewhere_new") is None
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []
    assert not known_exception("bot.storage.sqlite.jobs", "bot.pipeline.service")
