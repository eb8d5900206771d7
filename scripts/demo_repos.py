"""The demo's app repositories, built byte-for-byte the same on every machine.

Fixed authors, dates and contents give fixed commit hashes, so the committed deploy files under
deploys/ name real commits of these repositories.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

AUTHOR = ("Ada Platform", "ada@example.com")
EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z

# app -> list of (branch, message, files); a branch name other than main forks from main's tip so far
HISTORY: dict[str, list[tuple[str, str, dict[str, str]]]] = {
    "api": [
        ("main", "Initial API", {"app.py": "print('api v1')\n", "README.md": "# api\n"}),
        ("main", "Add health endpoint", {"app.py": "print('api v2: /health')\n"}),
        ("release/0.x", "Patch 0.x for an old customer", {"app.py": "print('api v2-old-branch')\n"}),
        ("main", "Fix login timeout", {"app.py": "print('api v3: /health, login fix')\n"}),
    ],
    "worker": [
        ("main", "Initial worker", {"worker.py": "print('worker v1')\n"}),
        ("main", "Retry failed jobs", {"worker.py": "print('worker v2: retries')\n"}),
    ],
    "web": [
        ("main", "Initial site", {"site/index.html": "<h1>Acme v1</h1>\n", "Makefile": "all:\n"}),
        ("main", "New landing page", {"site/index.html": "<h1>Acme v2</h1>\n"}),
    ],
}


def _git(repo: Path, *args: str, when: int | None = None) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": AUTHOR[0], "GIT_AUTHOR_EMAIL": AUTHOR[1],
        "GIT_COMMITTER_NAME": AUTHOR[0], "GIT_COMMITTER_EMAIL": AUTHOR[1],
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    }
    if when is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{when} +0000"
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def build(root: Path) -> dict[str, list[str]]:
    """Create (or reuse) the demo repos under root; return each app's commits in order."""
    commits: dict[str, list[str]] = {}
    for app, steps in HISTORY.items():
        repo = root / app
        if (repo / ".git").is_dir():
            commits[app] = _git(repo, "rev-list", "--reverse", "--all").split()
            continue
        repo.mkdir(parents=True, exist_ok=True)
        _git(repo, "init", "--quiet", "--initial-branch=main")
        made = []
        for i, (branch, message, files) in enumerate(steps):
            current = _git(repo, "rev-parse", "--abbrev-ref", "HEAD") if made else "main"
            if branch != current:
                exists = _git(repo, "branch", "--list", branch)
                _git(repo, "checkout", "--quiet", *([] if exists else ["-b"]), branch)
            for name, text in files.items():
                (repo / name).parent.mkdir(parents=True, exist_ok=True)
                (repo / name).write_text(text)
            _git(repo, "add", "-A")
            _git(repo, "commit", "--quiet", "-m", message, when=EPOCH + 3600 * i)
            made.append(_git(repo, "rev-parse", "HEAD"))
            if branch != "main":
                _git(repo, "checkout", "--quiet", "main")
        commits[app] = made
    return commits


if __name__ == "__main__":
    import sys

    for app, shas in build(Path(sys.argv[1] if len(sys.argv) > 1 else ".demo/repos")).items():
        for sha, (branch, message, _) in zip(shas, HISTORY[app], strict=True):
            print(app, branch, sha, message)
