"""The import graph of the toolkit's own code, read from the source (no import runs): what
`tests/test_layering.py` checks, and what `python tests/layering.py` prints.

Every `import thinkscale...` and `from thinkscale... import ...`, at module level or inside a
function, becomes an edge from the importing module to the module it names. A module's *stage* is
the folder after `thinkscale` (common, grading, inference, data, sft, eval, ibpo; `top` for the
package's own files: the CLI, `thinkscale.vllm`); its *unit* is its sub-package (e.g.
`thinkscale.inference.vllm`), or the module itself where it sits directly in a stage folder.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("common", "grading", "inference", "data", "sft", "eval", "ibpo")
# Lower rank = lower layer. A module imports its own stage or a lower rank; stages of one rank are
# peers that never import each other (data and sft both read models through inference).
RANK = {"common": 0, "grading": 1, "inference": 2, "data": 3, "sft": 3, "eval": 4, "ibpo": 5, "top": 6}
# What an import inside a function may defer: a library that is slow to import or not installed
# everywhere (an extra). Anything else belongs at the top of the module.
HEAVY = {"torch", "transformers", "vllm", "datasets", "accelerate", "matplotlib", "scipy", "numpy", "pyarrow",
         "gguf", "math_verify", "sympy", "tqdm", "safetensors", "huggingface_hub", "tokenizers",
         "ray", "llama_cpp", "selenium", "flash_attn", "starlette", "fastapi", "uvicorn", "openai"}  # fmt: skip


@dataclass
class Module:
    name: str
    path: Path
    rel: str  # the path from the repository root, as messages name it
    top: list[tuple[int, str]] = field(default_factory=list)  # (line, imported name) at module level
    inner: list[tuple[int, str]] = field(default_factory=list)  # inside a function


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts if parts[0] == "thinkscale" else ["thinkscale", *parts])


def _read(module: Module) -> None:
    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                own = child.module.split(".")[0] == "thinkscale"
                names = [f"{child.module}.{a.name}" for a in child.names] if own else [child.module]
            for name in names:
                (module.inner if inner else module.top).append((child.lineno, name))
            visit(child, inner)

    visit(ast.parse(module.path.read_text(), str(module.path)), False)


def read_tree(root: Path = ROOT) -> dict[str, Module]:
    """Every module of the package: the stage folders and thinkscale/'s own files (its links skipped)."""
    paths = [p for stage in STAGES for p in sorted((root / stage).rglob("*.py"))]
    paths += sorted(p for p in (root / "thinkscale").glob("*.py"))
    modules = {}
    for path in paths:
        module = Module(module_name(path, root), path, str(path.relative_to(root)))
        _read(module)
        modules[module.name] = module
    return modules


def resolve(name: str, modules: dict[str, Module]) -> str | None:
    """The module an imported name lives in (`thinkscale.a.b.Name` -> `thinkscale.a.b`)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def stage(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else "top"


def unit(name: str, modules: dict[str, Module]) -> str:
    package = modules[name].path.name == "__init__.py"
    parent = name if package else name.rpartition(".")[0]
    return parent if len(parent.split(".")) > 2 else name  # a sub-package, else the module itself


def edges(modules: dict[str, Module]) -> list[tuple[str, str, int, bool]]:
    """(importer, imported module, line, inside a function) for every import of the package's own code."""
    out = []
    for m in modules.values():
        for imports, inner in ((m.top, False), (m.inner, True)):
            for line, name in imports:
                if name.split(".")[0] == "thinkscale":
                    target = resolve(name, modules)
                    if target and target != m.name:
                        out.append((m.name, target, line, inner))
    return out


def upward_imports(modules: dict[str, Module]) -> list[str]:
    """Imports of a stage of the same or a higher rank (other than the importer's own stage)."""
    bad = []
    for a, b, line, _ in edges(modules):
        sa, sb = stage(a), stage(b)
        if sa != sb and RANK[sb] >= RANK[sa]:
            bad.append(f"{modules[a].rel}:{line}: {sa} imports {sb} ({b})")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def module_graph(modules: dict[str, Module]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for a, b, _, _ in edges(modules):
        graph[a].add(b)
    return graph


def unit_graph(modules: dict[str, Module]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for a, b, _, _ in edges(modules):
        ua, ub = unit(a, modules), unit(b, modules)
        graph.setdefault(ua, set())
        graph.setdefault(ub, set())
        # a package's __init__ importing its own modules is not an edge between units
        if ua != ub and not ub.startswith(ua + "."):
            graph[ua].add(ub)
    return graph


def heavy_at_import(name: str, modules: dict[str, Module], memo: dict[str, set[str]]) -> set[str]:
    """The heavy or optional libraries that importing `name` loads (module-level imports, transitively)."""
    if name in memo:
        return memo[name]
    memo[name] = set()  # a cycle contributes nothing twice (cycles fail their own test)
    found = set()
    for _, imported in modules[name].top:
        if imported.split(".")[0] == "thinkscale":
            target = resolve(imported, modules)
            if target and target != name:
                found |= heavy_at_import(target, modules, memo)
        elif imported.split(".")[0] in HEAVY:
            found.add(imported.split(".")[0])
    memo[name] = found
    return found


def unjustified_inner_imports(modules: dict[str, Module]) -> list[str]:
    """Imports inside functions that defer nothing: what they load, the module has loaded already
    (or it is light). Such an import hides a dependency from the reader and from this graph's order."""
    memo: dict[str, set[str]] = {}
    bad = []
    for m in modules.values():
        loaded = heavy_at_import(m.name, modules, memo)
        for line, name in m.inner:
            if name.split(".")[0] == "thinkscale":
                target = resolve(name, modules)
                deferred = heavy_at_import(target, modules, memo) if target else set()
            else:
                deferred = {name.split(".")[0]} & HEAVY
            if not deferred - loaded:
                bad.append(f"{m.rel}:{line}: {name}")
    return bad


def inner_import_count(modules: dict[str, Module]) -> int:
    return sum(len(m.inner) for m in modules.values())


if __name__ == "__main__":
    tree = read_tree(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
    print(f"{len(tree)} modules, {len(edges(tree))} imports of the package's own code, "
          f"{inner_import_count(tree)} imports inside functions")  # fmt: skip
    for title, lines in (("upward", upward_imports(tree)), ("unjustified inside functions",
                         unjustified_inner_imports(tree))):  # fmt: skip
        print(f"{title}: {len(lines)}", *lines, sep="\n  ")
    for title, graph in (("module", module_graph(tree)), ("unit", unit_graph(tree))):
        print(f"{title} cycles:", cycles(graph))
