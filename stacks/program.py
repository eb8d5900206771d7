"""The per-stack Pulumi program: the env's deploy files become components of their kinds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NoReturn

import pulumi
from pydantic import ValidationError

from deployctl.adapters.git.apprepos import AppRepos
from deployctl.adapters.git.reads import worktree_snapshot
from deployctl.adapters.git.repourl import repo_url
from deployctl.components import component_class
from deployctl.components.base import AppComponent
from deployctl.components.health import make_health_check
from deployctl.components.spec import AppSpec
from deployctl.core.health.pins import pins_for
from deployctl.core.repo.catalog import App, AppSettings, Kind, app_settings, settings_violations
from deployctl.core.repo.envconfig import PROJECT, program_settings, resolve_deploy_root
from deployctl.core.repo.model import FULL_HASH_LENGTHS, short
from deployctl.core.repo.order import app_order
from deployctl.core.violations import CannotJudge, errors


def _fail(messages: list[str]) -> NoReturn:
    for message in messages:
        pulumi.log.error(message)
    raise pulumi.RunError(
        f"{len(messages)} problem(s) in the deploy repo; nothing was deployed. "
        "Run `deployctl check` for the details and fix them first."
    )


def portable_path(root: Path, path: str) -> str:
    """A path inside the checkout, relative to it (runners check out to different folders, and what
    a resource records must not depend on that); a path outside it, absolute."""
    resolved = (root / path).resolve()
    try:
        return resolved.relative_to(root.resolve()).as_posix() or "."
    except ValueError:
        return str(resolved)


def deployed_commit(repos: AppRepos, name: str, app: App, commit: str) -> str:
    """The commit a `local` app deploys, in full: the one commit object its hash names, resolved by
    the function the rules use (AppRepo.resolve: among commit objects, never a branch or tag named
    like a short hash), so the release is the tree the safeguards judged. Other kinds deploy an
    artifact named by the hash as written; a full hash is already exact."""
    if app.kind is not Kind.LOCAL or len(commit) in FULL_HASH_LENGTHS:
        return commit
    try:
        found = repos.get(app.repo).resolve(commit)
    except CannotJudge as exc:
        _fail([f"{name}: cannot resolve {commit}: {exc}"])
    if len(found) != 1:
        _fail([f"{name}: commit {commit} names {len(found) or 'no'} commit(s) in {app.repo}; "
               "run `deployctl check` (commit-not-found, ambiguous-commit) and write the full hash"])
    return found[0]


def app_specs(root: Path, env: str, config: pulumi.Config) -> tuple[list[AppSpec], set[str]]:
    """The env's apps in dependency order, and those pinned by a switch-back (DEPLOYCTL_PIN, read
    here once; they get no health check); or fail before a single resource is registered. The env's
    settings are the snapshot's parse of its stack config, which `check` judged, with the app
    settings Pulumi decrypted (`config`)."""
    snapshot = worktree_snapshot(root, envs={env})
    problems = errors(snapshot.all_violations())
    if env not in snapshot.tree.envs:
        _fail([*(v.format() for v in problems), f"stack '{env}' has no folder deploys/{env}/"])
    if problems:
        _fail([v.format() for v in problems])
    files = {f.app: f for f in snapshot.tree.in_env(env)}
    catalog = snapshot.catalog
    try:
        settings = program_settings(snapshot.stacks[env], config.get_object("settings"))
    except ValueError as exc:  # names settings, never a (decrypted) value
        _fail([f"env '{env}': {exc}"])
    try:
        deploy_root = portable_path(root, str(resolve_deploy_root(root, env, settings)))  # once for the env
    except ValueError as exc:
        _fail([str(exc)])
    secret_settings = snapshot.stacks[env].secret_settings
    typed: dict[str, AppSettings] = {}
    invalid: list[str] = []
    for name, file in files.items():  # with the decrypted values, which only the program sees
        try:
            typed[name] = app_settings(name, catalog.apps[name], settings.settings.get(name))
        except ValidationError:
            invalid += [v.format() for v in settings_violations(name, catalog.apps[name],
                                                                 settings.settings.get(name), env, file.path)]
    if invalid:  # the messages name the setting and the rule, never the (possibly secret) value
        _fail(invalid)
    specs = []
    try:
        pins = pins_for(env, os.environ)  # a switch-back: these apps stay on (or go back to) the given commit
    except ValueError as exc:
        _fail([str(exc)])
    urls = {repo: repo_url(repo, root) for repo in {catalog.apps[name].repo for name in files}}  # once a repo
    repos = AppRepos(root)
    for name in app_order(catalog, list(files)):
        app, file = catalog.apps[name], files[name]
        commit, comment = file.commit, file.current.comment
        if name in pins:
            pin = pins[name]
            if pin is None:
                continue  # held back before it ever ran: not deployed in this update
            commit, comment = pin, f"switched back to {short(pin)} by deployctl"
        commit = deployed_commit(repos, name, app, commit)
        specs.append(
            AppSpec(
                env=env, app=name, kind=app.kind, commit=commit, comment=comment,
                repo_url=urls[app.repo], path=app.path, settings=typed[name],
                deploy_root=deploy_root, depends_on=list(app.depends_on),
                secret_settings=secret_settings.get(name, ()),
            )
        )
    return specs, set(pins)


def program() -> None:
    env = pulumi.get_stack()
    components: dict[str, AppComponent[Any]] = {}
    checks: dict[str, pulumi.Resource] = {}
    specs, pinned = app_specs(Path.cwd(), env, pulumi.Config(PROJECT))
    for spec in specs:  # dependency order: what an app depends on is already registered (and checked)
        after = [checks.get(d) or components[d] for d in spec.depends_on if d in components]
        # the class called here, not through a helper: one frame less in the stack Pulumi records per
        # resource (traceback.extract_stack); ~5 ms per 400 resources under mocks, small but free
        kind = component_class(spec.kind)
        components[spec.app] = kind(spec.app, spec, pulumi.ResourceOptions(depends_on=after) if after else None)
        if spec.app not in pinned and (check := make_health_check(spec, components[spec.app])) is not None:
            checks[spec.app] = check
    # `commit` resolves only once the app's own resources are in place: when an up fails, the
    # output keeps what really runs, so `deployctl status` can show the drift.
    pulumi.export(
        "deployed",
        {s.app: {"commit": components[s.app].running, "comment": s.comment, "kind": s.kind.value} for s in specs},
    )
