"""Every pydantic model of deployctl and the components builds its validator at first use."""

from __future__ import annotations

import json
import subprocess
import sys

from pydantic import BaseModel

from deployctl.core.lazymodel import LazyModel
from tests.builders import PROJECT_ROOT


def _subclasses(cls: type) -> list[type]:
    return [c for s in cls.__subclasses__() for c in (s, *_subclasses(s))]


def test_every_model_of_ours_is_lazy() -> None:
    ours = ("deployctl", "components", "stacks")
    for path in sorted(p for folder in ours for p in (PROJECT_ROOT / folder).rglob("*.py") if p.stem != "__main__"):
        module = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(".__init__")
        __import__(module)
    models = [m for m in _subclasses(BaseModel) if m.__module__.startswith(ours)]
    assert len(models) > 30
    assert [m.__qualname__ for m in models if not issubclass(m, LazyModel)] == []


def test_the_program_builds_only_the_models_it_uses() -> None:
    """Imported as `pulumi up` does, the program has built no validator yet (the AWS kinds' settings
    and the health verdicts are never built in a local-only stack); one validation builds its own."""
    code = ("import json; import deployctl.stacks.program\n"
            "from deployctl.core.repo import catalog\n"
            "from deployctl.core.health import checks as health\n"
            "before = [m.__name__ for m in (catalog.Catalog, catalog.EcsServiceSettings, health.HealthResult)"
            " if m.__pydantic_complete__]\n"
            "catalog.LocalSettings.model_validate({})\n"
            "print(json.dumps([before, catalog.LocalSettings.__pydantic_complete__,"
            " catalog.EcsServiceSettings.__pydantic_complete__]))")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120, check=True)
    assert json.loads(result.stdout) == [[], True, False]
