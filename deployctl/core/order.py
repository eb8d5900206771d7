"""Orders: apps within an env by `depends_on`, envs by `promoteFrom`. Deterministic and pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from deployctl.core.catalog import Catalog


def topological(nodes: Iterable[str], edges: Mapping[str, Iterable[str]]) -> list[str]:
    """Nodes with what they come after first; ties broken by name. Edges to absent nodes are ignored."""
    present = sorted(set(nodes))
    before = {n: sorted(d for d in edges.get(n, ()) if d in present and d != n) for n in present}
    done: list[str] = []
    seen: set[str] = set()

    def visit(node: str, stack: tuple[str, ...]) -> None:
        if node in seen or node in stack:
            return  # a cycle is reported by the catalog/stack config checks; never loop here
        for dep in before[node]:
            visit(dep, (*stack, node))
        seen.add(node)
        done.append(node)

    for node in present:
        visit(node, ())
    return done


def app_order(catalog: Catalog, apps: Iterable[str]) -> list[str]:
    return topological(apps, {n: a.depends_on for n, a in catalog.apps.items()})


def env_order(upstream: Mapping[str, str | None], envs: Iterable[str]) -> list[str]:
    """Envs after the env they promote from, so staging deploys before production."""
    return topological(envs, {e: [u] for e, u in upstream.items() if u})
