"""The deploy repository at one point in time (a commit or the working tree), as plain data.

Pure: built from file contents, so the rules and the plan never touch git or the filesystem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ConfigDict, ValidationError

from deployctl.core.kinds.awsnames import name_collisions
from deployctl.core.lazymodel import LazyModel
from deployctl.core.repo.catalog import (
    CATALOG_FILE,
    AppSettings,
    Catalog,
    Kind,
    app_settings,
    merge_settings,
    parse_catalog,
    settings_violations,
)
from deployctl.core.repo.envconfig import (
    DEPLOYMENTS_DIR,
    PROJECT,
    StackConfig,
    deploy_root_of,
    is_secret_setting,
    is_secure,
    parse_stack_config,
    promotion_cycle,
    roots_overlap,
    stack_config_file,
    stand_in_secure,
    strip_secure,
    unknown_policy_apps,
)
from deployctl.core.repo.model import NAME_RULE, is_valid_name
from deployctl.core.repo.order import env_order
from deployctl.core.repo.tree import DeployTree, Entry, build_tree
from deployctl.core.repo.yamlfile import YamlError, line_of
from deployctl.core.violations import Severity, Violation

STACK_PREFIX, STACK_SUFFIX = "Pulumi.", ".yaml"
AWS_KINDS = (Kind.ECS_SERVICE, Kind.LAMBDA, Kind.STATIC_SITE)


class RepoFiles(LazyModel):
    """The raw inputs a snapshot is made of, as read from git or a working tree."""

    model_config = ConfigDict(frozen=True)

    catalog: str | None
    stack_configs: dict[str, str]
    entries: list[Entry]


class Snapshot(LazyModel):
    model_config = ConfigDict(frozen=True)

    catalog: Catalog
    stacks: dict[str, StackConfig]
    tree: DeployTree
    violations: tuple[Violation, ...] = ()
    """Problems of the repo as a whole (bad names, deploy files, envs without config)."""
    config_errors: tuple[Violation, ...] = ()
    """Catalog or stack config unreadable, or a link in deploys/: nothing can be judged against it."""

    @property
    def envs(self) -> list[str]:
        return sorted(set(self.tree.envs) & set(self.stacks))

    def all_violations(self) -> list[Violation]:
        return [*self.config_errors, *self.violations]

    def ordered_envs(self, envs: Iterable[str] | None = None) -> list[str]:
        """`envs` (default: every env with a folder and a stack config) after the env each promotes
        from, so staging comes before production."""
        chosen = list(self.envs if envs is None else envs)
        return env_order({e: self.stacks[e].settings.promote_from for e in chosen if e in self.stacks}, chosen)

    def settings_of(self, env: str, app: str) -> AppSettings:
        """The app's settings in `env` as deployctl can judge them: encrypted values left out, as
        `invalid-settings` judged them (only the program decrypts them). Raises pydantic's
        ValidationError when they are invalid (`invalid-settings` says why)."""
        return app_settings(app, self.catalog.apps[app], _without_secrets(self.stacks[env].settings.settings.get(app)))

    def has_health(self, env: str, app: str) -> bool:
        """Does the app have a health check in `env`? Its encrypted values count as present, so a
        check whose `url` or `command` is a secret counts; an override that is one secret may hold one."""
        written = self.stacks[env].settings.settings.get(app)
        if is_secure(written):
            return True
        return merge_settings(self.catalog.apps[app].settings, written or {}).get("health") is not None


def env_of_stack_file(name: str) -> str | None:
    if name.startswith(STACK_PREFIX) and name.endswith(STACK_SUFFIX) and len(name) > len(STACK_PREFIX + STACK_SUFFIX):
        return name[len(STACK_PREFIX) : -len(STACK_SUFFIX)]
    return None


def _without_secrets(overrides: dict[str, Any] | None) -> dict[str, Any] | None:
    """Encrypted values (`{secure: ...}`) can only be judged by the program, which decrypts them."""
    if not overrides or is_secure(overrides):  # the app's whole override is one secret
        return None
    stripped: dict[str, Any] = strip_secure(overrides)
    return stripped


def _secrets_present(overrides: dict[str, Any] | None) -> dict[str, Any] | None:
    """The overrides with each encrypted value a stand-in: present, but judged only by the program."""
    if not overrides or is_secure(overrides):  # the app's whole override is one secret: nothing known
        return None
    present: dict[str, Any] = stand_in_secure(overrides)
    return present


def _in_override(overrides: dict[str, Any], keys: list[str]) -> bool:
    """Does the env's override hold the setting at `keys`, or replace (with a value that is no
    mapping) what holds it? Else the catalog's value stands (the override merges into it)."""
    held: Any = overrides
    for key in keys:
        if not isinstance(held, dict) or is_secure(held):
            return True
        if key not in held:
            return False
        held = held[key]
    return bool(keys)


def _setting_at(files: RepoFiles, env: str, app: str, overrides: dict[str, Any],
                setting: str) -> tuple[str, int | None]:
    """The file and line where an app's setting (a dotted path) is written: the env's override when
    it holds it, else the catalog ("": the settings as a whole)."""
    keys = setting.split(".") if setting else []
    if _in_override(overrides, keys):
        file, text = stack_config_file(env), files.stack_configs.get(env)
        path: tuple[str, ...] = ("config", f"{PROJECT}:settings", app, *keys)
    else:
        file, text, path = CATALOG_FILE, files.catalog, ("apps", app, "settings", *keys)
    return file, line_of(text, path) if text else None


def _setting_place(files: RepoFiles, env: str, app: str, overrides: dict[str, Any]) -> Callable[[str], str | None]:
    def where(setting: str) -> str | None:
        file, line = _setting_at(files, env, app, overrides, setting)
        return f"{file}:{line}" if line else None
    return where


def _name_collisions(files: RepoFiles, snapshot: Snapshot) -> list[Violation]:
    """`invalid-settings` where two deployments (envs, or apps) would take one AWS name: the same
    CloudFront alias, or chosen names that join alike (`a-b`+`c`, `a`+`b-c`). Only settings that
    are valid and readable count (encrypted ones only the program can judge)."""
    deployed: dict[tuple[str, str], AppSettings] = {}
    paths: dict[tuple[str, str], str] = {}
    for f in snapshot.tree.files.values():
        app = snapshot.catalog.apps.get(f.app)
        if f.env in snapshot.stacks and app is not None and app.kind in AWS_KINDS:
            try:
                deployed[(f.env, f.app)] = snapshot.settings_of(f.env, f.app)
            except ValidationError:
                continue  # `invalid-settings` says why
            paths[(f.env, f.app)] = f.path
    out: list[Violation] = []
    for hit in name_collisions(deployed):
        secret = snapshot.stacks[hit.env].secret_settings.get(hit.app, ())
        others = [o for o in hit.others
                  if not (hit.claim.setting and is_secret_setting(
                      snapshot.stacks[o[0]].secret_settings.get(o[1], ()), hit.claim.setting))]
        if not others or (hit.claim.setting and is_secret_setting(secret, hit.claim.setting)):
            continue
        claimed = ", ".join(f"app '{app}' in env '{env}'" for env, app in others)
        if hit.claim.setting:
            file, line = _setting_at(files, hit.env, hit.app, snapshot.stacks[hit.env].settings.settings.get(hit.app)
                                     or {}, hit.claim.setting)
            fix = (f"give each its own (an env's own {hit.claim.setting} in its Pulumi.<env>.yaml "
                   f"'{PROJECT}:settings', replacing the catalog's)")
        else:
            file, line = paths[(hit.env, hit.app)], None
            fix = "rename the env or the app so '<env>-<app>' names one deployment only"
        out.append(Violation(
            rule="invalid-settings", severity=Severity.ERROR, file=file, line=line, env=hit.env, app=hit.app,
            message=f"{hit.claim.what} '{hit.claim.name}' of app '{hit.app}' in env '{hit.env}' is also claimed by "
            f"{claimed} (unique in {hit.claim.scope}): one deploy would fail or take over the other's; {fix}",
        ))
    return out


def build_snapshot(files: RepoFiles) -> Snapshot:
    """The repo as data, with what is wrong with it: `config_errors` when the catalog, a stack config or
    `deploys/` cannot be judged against; `violations` for the rest (names, envs, apps, settings)."""
    catalog, catalog_errors = _read_catalog(files.catalog)
    stacks, bad_names, stack_errors = _read_stack_configs(files.stack_configs)
    tree = build_tree(files.entries)
    config_errors = [*catalog_errors, *stack_errors, *tree.links]  # a link: git and the worktree differ
    violations = [*bad_names, *tree.violations,
                  *_unmatched_envs(files, stacks, tree, {v.file for v in config_errors})]
    config_errors += _bad_promotions(files, stacks)
    config_errors += _overlapping_roots(files, stacks)
    if _catalog_read(config_errors):
        config_errors += _unknown_overrides(files, stacks, catalog)
        config_errors += [v for env, stack in sorted(stacks.items())
                          for v in unknown_policy_apps(stack, files.stack_configs.get(env), catalog.apps)]
    violations += _deploy_file_violations(files, catalog, stacks, tree, _catalog_read(config_errors))
    built = Snapshot(catalog=catalog, stacks=stacks, tree=tree, violations=tuple(violations),
                     config_errors=tuple(config_errors))
    if config_errors:
        return built
    return built.model_copy(update={"violations": (*violations, *_name_collisions(files, built))})


def _catalog_read(config_errors: list[Violation]) -> bool:
    """Was apps.yaml read? Else no app can be judged against it (each would be reported unknown)."""
    return not any(v.file == CATALOG_FILE for v in config_errors)


def _read_catalog(text: str | None) -> tuple[Catalog, list[Violation]]:
    """The catalog, or an empty one and why it cannot be read (missing, or not valid)."""
    if text is None:
        return Catalog(), [Violation(
            rule="catalog", severity=Severity.ERROR, file=CATALOG_FILE,
            message="apps.yaml is missing; every app needs an entry in the catalog (see the README)",
        )]
    try:
        return parse_catalog(text), []
    except YamlError as exc:
        return Catalog(), list(exc.violations)


def _read_stack_configs(configs: dict[str, str]) -> tuple[dict[str, StackConfig], list[Violation], list[Violation]]:
    """The stack configs that parse, by env; the files whose env is no valid name (violations); and
    the configs that cannot be read (config errors)."""
    stacks: dict[str, StackConfig] = {}
    bad_names: list[Violation] = []
    unreadable: list[Violation] = []
    for env, text in sorted(configs.items()):
        if not is_valid_name(env):
            bad_names.append(Violation(
                rule="invalid-path", severity=Severity.ERROR, file=stack_config_file(env), env=env,
                message=f"stack config for env '{env}': {NAME_RULE}; rename it",
            ))
            continue
        try:
            stacks[env] = parse_stack_config(env, text)
        except YamlError as exc:
            unreadable.extend(exc.violations)
    return stacks, bad_names, unreadable


def _unmatched_envs(files: RepoFiles, stacks: dict[str, StackConfig], tree: DeployTree,
                    bad_files: set[str]) -> list[Violation]:
    """`unknown-env`: a folder under deploys/ without a stack config, and a stack config (readable,
    and not already reported in `bad_files`) without a folder."""
    out: list[Violation] = []
    for env in tree.envs:
        if env not in files.stack_configs:
            out.append(Violation(
                rule="unknown-env", severity=Severity.ERROR, file=f"deploys/{env}", env=env,
                message=f"folder deploys/{env}/ has no stack config {stack_config_file(env)}; "
                f"create it (pulumi stack init {env}, or copy another env's) or remove the folder",
            ))
    for env in stacks:
        if env not in tree.envs and stack_config_file(env) not in bad_files:
            out.append(Violation(
                rule="unknown-env", severity=Severity.ERROR, file=stack_config_file(env), env=env,
                message=f"stack config {stack_config_file(env)} has no folder deploys/{env}/; "
                f"create it (an empty env holds deploys/{env}/.gitkeep) or remove the stack config",
            ))
    return out


def _bad_promotions(files: RepoFiles, stacks: dict[str, StackConfig]) -> list[Violation]:
    """`stack-config` where deploys:promoteFrom names the env itself or no env, and at each env of a
    promotion cycle (any one of them may be the one to change)."""
    out: list[Violation] = []
    for env, stack in stacks.items():
        upstream = stack.settings.promote_from
        if upstream and (upstream == env or upstream not in files.stack_configs):
            out.append(Violation(
                rule="stack-config", severity=Severity.ERROR, file=stack_config_file(env), env=env,
                line=stack.promote_from_line,
                message=f"deploys:promoteFrom names '{upstream}', which is "
                + ("this env itself" if upstream == env else "not an env (no Pulumi."
                   f"{upstream}.yaml)") + "; name the env this one promotes from",
            ))
    if cycle := promotion_cycle({env: stack.settings.promote_from for env, stack in stacks.items()}):
        out.extend(Violation(
            rule="stack-config", severity=Severity.ERROR, file=stack_config_file(env), env=env,
            line=stacks[env].promote_from_line,
            message="deploys:promoteFrom forms a cycle (" + " promotes from ".join(cycle) + "), so no commit can "
            "ever run upstream first; remove deploys:promoteFrom from one of these envs",
        ) for env in cycle[:-1])
    return out


def _deploy_file_violations(files: RepoFiles, catalog: Catalog, stacks: dict[str, StackConfig], tree: DeployTree,
                            catalog_read: bool) -> list[Violation]:
    """Per deploy file: `unknown-app` (when the catalog was read), else its app's settings in its env
    (secure values included, where they are written)."""
    out: list[Violation] = []
    for f in tree.files.values():
        if f.app not in catalog.apps and catalog_read:
            out.append(Violation(
                rule="unknown-app", severity=Severity.ERROR, file=f.path, line=f.current.line,
                env=f.env, app=f.app,
                message=f"app '{f.app}' is not in apps.yaml; add it to the catalog or fix the file name",
            ))
        elif f.env in stacks and f.app in catalog.apps:
            written = stacks[f.env].settings.settings.get(f.app)  # secure values included: where they are
            out.extend(settings_violations(
                f.app, catalog.apps[f.app], _secrets_present(written), f.env, f.path,
                _setting_place(files, f.env, f.app, written or {}), stacks[f.env].secret_settings.get(f.app, ())))
    return out


def _overlapping_roots(files: RepoFiles, stacks: dict[str, StackConfig]) -> list[Violation]:
    """`stack-config` where two envs' deploy roots are one folder, or one inside the other: one env's
    deploy would adopt, repoint or delete the other's releases. Located at each deployRoot written."""
    roots = {env: deploy_root_of(env, stack.settings) for env, stack in stacks.items()}
    out: list[Violation] = []
    for env in sorted(roots):
        others = [o for o in sorted(roots) if o != env and roots_overlap(roots[env], roots[o])]
        if not others or stacks[env].settings.deploy_root is None:
            continue  # the default root of an env overlapping is reported at the other env's deployRoot
        text = files.stack_configs.get(env)
        default = f"{DEPLOYMENTS_DIR}/{env}"
        free = not any(roots_overlap(default, roots[o]) for o in roots if o != env)
        out.append(Violation(
            rule="stack-config", severity=Severity.ERROR, file=stack_config_file(env), env=env,
            line=line_of(text, ("config", f"{PROJECT}:deployRoot")) if text else None,
            message=f"{PROJECT}:deployRoot '{roots[env]}' overlaps the deploy root of env(s) "
            + ", ".join(f"'{o}' ('{roots[o]}')" for o in others)
            + " (the same folder, or one inside the other), so one env's deploy would take over or delete the "
            "other's; give each env a folder of its own" + (f", e.g. {default}" if free else ""),
        ))
    return out


def _unknown_overrides(files: RepoFiles, stacks: dict[str, StackConfig], catalog: Catalog) -> list[Violation]:
    """`stack-config` for a `deploys:settings` override of an app the catalog does not have: it would
    silently never apply (a misspelt `apii:`)."""
    out: list[Violation] = []
    for env, stack in sorted(stacks.items()):
        for app in sorted(set(stack.settings.settings) - set(catalog.apps)):
            text = files.stack_configs.get(env)
            out.append(Violation(
                rule="stack-config", severity=Severity.ERROR, file=stack_config_file(env), env=env,
                line=line_of(text, ("config", f"{PROJECT}:settings", app)) if text else None,
                message=f"{PROJECT}:settings overrides app '{app}', which is not in apps.yaml, so it would never "
                "apply; fix the app's name, or remove the override",
            ))
    return out
