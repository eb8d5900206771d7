"""What `deployctl init` writes for a team's deploy repository, and the tool's version pin in it.

Pure: names in, file texts out. A team's repository holds no source of the tool: its program is the
pinned, installed package (`deployctl.stacks.program`) run by a `__main__.py` of a few lines, so an
upgrade is a pull request that changes one line of the pin file (a program change: every stack is
previewed). The CODEOWNERS, the README and the workflows are added by the command (report/ and
package data); what it writes here is checked by the same snapshot `deployctl check` reads.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from deployctl.core.repo.catalog import CATALOG_FILE
from deployctl.core.repo.envconfig import PROJECT, stack_config_file
from deployctl.core.repo.model import DEPLOYS_DIR, NAME_RULE, is_valid_name
from deployctl.core.repo.owners import OWNER_RULE, is_owner
from deployctl.core.repo.programpaths import PIN_FILE

DISTRIBUTION = "deploy-by-code"
"""The tool's distribution on PyPI (its import package is `deployctl`)."""
DEFAULT_ENVS = ("staging", "production")
PLACEHOLDER_REVIEWERS = "@your-org/release-managers"
"""The protected envs' reviewers when none are given: a team that exists nowhere, named in the
README's first step (change it, then `deployctl codeowners`)."""

_PIN_RE = re.compile(r"^\s*deploy[-_.]by[-_.]code\s*==\s*([^\s;#\\]+)", re.IGNORECASE | re.MULTILINE)

MAIN_PY = '''\
"""The Pulumi program: the installed deploy-by-code's, at the version requirements.txt pins.

Nothing else belongs here: the program, its components and their upgrades come with the pin."""

import gc

gc.set_threshold(10_000, 10, 10)  # the program allocates several objects per resource: collect less often

from deployctl.stacks.program import program  # noqa: E402

gc.freeze()
program()
'''

PULUMI_YAML = f"""\
name: {PROJECT}
description: Deploy by pull request. Each deploys/<env>/ folder is a stack; each file in it an app.
runtime:
  name: python
  options:
    toolchain: pip
    virtualenv: .venv
"""

CATALOG = """\
# The app catalog: one entry per app that may appear in deploys/<env>/<app>.
# kind: local | ecs-service | lambda | static-site. An example:
#
# apps:
#   api:
#     kind: ecs-service
#     repo: git@github.com:acme/api.git   # any git URL
#     branch: main                         # the release branch: deploys must come from it
#     owners: ["@acme/api-team"]
#     settings: {image_repository: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/api, cluster: prod,
#                subnets: [subnet-1], security_groups: [sg-1], container_port: 8080,
#                execution_role_arn: "arn:aws:iam::123456789012:role/ecs-task-execution"}  # awslogs, ECR
#
# After a change here: `deployctl codeowners` (and commit .github/CODEOWNERS).
apps: {}
"""

GITIGNORE = """\
.venv
.pulumi-state/
.deployments/
__pycache__/
"""


@dataclass(frozen=True)
class EnvPlan:
    """One env of a new repository: its name, the env it promotes from, and who approves its deploys."""

    name: str
    promote_from: str | None
    reviewers: tuple[str, ...]

    @property
    def protected(self) -> bool:
        return bool(self.reviewers)


def plan_envs(envs: list[str], protected: list[str] | None, reviewers: list[str]) -> list[EnvPlan]:
    """The envs in promotion order (each promotes from the one before it); `protected` None: the last
    env. Every protected env gets `reviewers` (a protected env without reviewers is an error of check).
    ValueError says what is wrong with the names, and what to do."""
    envs = envs or list(DEFAULT_ENVS)
    for env in envs:
        if not is_valid_name(env):
            raise ValueError(f"env '{env}': {NAME_RULE}")
    if len(set(envs)) != len(envs):
        raise ValueError(f"an env is named twice: {', '.join(envs)}")
    guarded = [envs[-1]] if protected is None else protected
    if unknown := [p for p in guarded if p not in envs]:
        raise ValueError(f"--protected {', '.join(unknown)}: not one of the envs ({', '.join(envs)}); "
                         "add it with --env")
    if guarded and not reviewers:
        raise ValueError("a protected env needs reviewers: give --reviewers")
    for owner in reviewers:
        if not is_owner(owner):
            raise ValueError(f"reviewer {owner!r}: {OWNER_RULE}")
    return [EnvPlan(name=env, promote_from=envs[i - 1] if i else None,
                    reviewers=tuple(reviewers) if env in guarded else ()) for i, env in enumerate(envs)]


def _quoted(value: str) -> str:
    """A YAML scalar that reads back as exactly `value` (a JSON string is a YAML double-quoted one)."""
    return json.dumps(value)


def stack_config_text(env: EnvPlan) -> str:
    lines = [f"# The env {env.name} (a Pulumi stack): its settings under `{PROJECT}:`; deploys/{env.name}/ "
             "holds its deploy files.", "config:"]
    if env.protected:
        lines.append(f"  {PROJECT}:protected: \"true\"  # deploy files owned by the reviewers alone (CODEOWNERS)")
    if env.promote_from:
        lines.append(f"  {PROJECT}:promoteFrom: {env.promote_from}  # deploy here what runs there first")
    if env.protected:
        lines.append(f"  {PROJECT}:reviewers:")
        lines += [f"    - {_quoted(owner)}" for owner in env.reviewers]
        if PLACEHOLDER_REVIEWERS in env.reviewers:
            lines.append(f"    # {PLACEHOLDER_REVIEWERS} is a placeholder: name your release managers' team, "
                         "then run `deployctl codeowners`")
    if len(lines) == 2:
        lines[1] = "config: {}"
    return "\n".join(lines) + "\n"


def pin_text(version: str) -> str:
    return (f"# The deploy tool, at exactly this version: it is this repository's Pulumi program. Upgrading is a\n"
            f"# pull request that changes this line; its preview shows what the new version changes in each stack.\n"
            f"# (No hashes: pip's --require-hashes needs one for every dependency too; `pip-compile\n"
            f"# --generate-hashes` can write them into this file if your team wants them.)\n"
            f"{DISTRIBUTION}=={version}\n")


def repo_files(version: str, envs: list[EnvPlan]) -> dict[str, str]:
    """Every file of a new deploy repository but its CODEOWNERS, README and workflows: path -> text."""
    files = {"Pulumi.yaml": PULUMI_YAML, "__main__.py": MAIN_PY, CATALOG_FILE: CATALOG, PIN_FILE: pin_text(version),
             ".gitignore": GITIGNORE}
    for env in envs:
        files[stack_config_file(env.name)] = stack_config_text(env)
        files[f"{DEPLOYS_DIR}/{env.name}/.gitkeep"] = ""
    return files


def pinned_version(text: str) -> str | None:
    """The exact version of the tool a pin file names (`deploy-by-code==X`), or None."""
    found = _PIN_RE.search(text)
    return found.group(1) if found else None


def pin_note(text: str, installed: str) -> tuple[bool, str]:
    """Whether the installed tool is the version the pin file's text pins, and what to say about it."""
    pinned = pinned_version(text)
    if pinned is None:
        return False, (f"{PIN_FILE} pins no exact {DISTRIBUTION} version; the program is the installed "
                       f"deployctl {installed}: pin it ({DISTRIBUTION}=={installed}) so every runner runs the same")
    if pinned != installed:
        return False, (f"deployctl {installed} is installed, but {PIN_FILE} pins {DISTRIBUTION}=={pinned}: "
                       f"run `pip install -r {PIN_FILE}` (CI installs the pin; upgrade by a PR that changes it)")
    return True, f"deployctl {installed}, as {PIN_FILE} pins"
