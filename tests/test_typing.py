"""The type checker's own contract: every `type: ignore` names its error code and says why on its line,
and the strict core stays strict (mypy itself runs in `make test` and `make lint`)."""

from __future__ import annotations

import re
import tomllib

from tests.builders import PROJECT_ROOT

SOURCES = ("deployctl", "components", "stacks", "scripts", "bench")
_IGNORE = re.compile(r"#\s*type:\s*ignore(?P<code>\[[^\]]*\])?(?P<rest>.*)$")


def test_every_type_ignore_names_its_code_and_says_why() -> None:
    bare = []
    for folder in SOURCES:
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if (m := _IGNORE.search(line)) and not (m["code"] and re.match(r"\s*#\s*\S", m["rest"])):
                    bare.append(f"{path.relative_to(PROJECT_ROOT)}:{n}: {line.strip()}")
    assert bare == []


def test_mypy_is_pinned_run_by_make_and_strict_on_the_core() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "mypy==2.4.1" in project["project"]["optional-dependencies"]["dev"]
    mypy = project["tool"]["mypy"]
    assert set(mypy["files"]) >= {"deployctl", "__main__.py"} and mypy["warn_unused_ignores"] is True
    strict = next(o for o in mypy["overrides"] if "deployctl.core.*" in o["module"])
    assert strict["disallow_untyped_defs"] and strict["disallow_any_generics"] and strict["warn_return_any"]
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("test", "lint"):
        recipe = makefile.split(f"\n{target}:", 1)[1].split("\n\n", 1)[0]
        assert "$(BIN)/mypy" in recipe, target
