"""Orders: apps within an env by `depends_on`, envs by `promoteFrom`. Deterministic and pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from deployctl.core.repo.catalog import Catalog


def topological(nodes: Iterable[str], edges: Mapping[str, Iterable[str]]) -> list[str]:
    """Nodes with what they come after first; ties broken by name. Edges to absent nodes are ignored."""
    present = sorted(set(nodes))
    known = set(present)
    before = {n: sorted(d for d in edges.get(n, ()) if d in known and d != n) for n in present}
    done: list[str] = []
    seen: set[str] = set()
    for root in present:  # depth first, iterative: a chain 1,000 deep never meets the recursion limit
        if root in seen:
            continue
        path, on_path = [(root, iter(before[root]))], {root}
        while path:
            node, deps = path[-1]
            dep = next(deps, None)
            if dep is None:
                path.pop()
                on_path.discard(node)
                seen.add(node)
                done.append(node)
            elif dep not in seen and dep not in on_path:  # a cycle is reported by the catalog/stack checks
                on_path.add(dep)
                path.append((dep, iter(before[dep])))
    return done


def app_order(catalog: Catalog, apps: Iterable[str]) -> list[str]:
    return topological(apps, {n: a.depends_on for n, a in catalog.apps.items()})


def env_order(upstream: Mapping[str, str | None], envs: Iterable[str]) -> list[str]:
    """Envs after the env they promote from, so staging deploys before production."""
    return topological(envs, {e: [u] for e, u in upstream.items() if u})
