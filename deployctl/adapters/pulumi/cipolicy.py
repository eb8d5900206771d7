"""The CI policy: in CI, refuse any file:// backend, in the repo or not (a runner's folder dies with the
job, and the stack history, the deploy trace, with it) and the empty passphrase for a protected env.
Also the stack config's secrets settings, which that policy and `doctor` read."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from deployctl.adapters.pulumi.backend import STATE_DIR, backend_url, in_repo_file_backend
from deployctl.core.urls import redact_url
from deployctl.core.violations import CannotJudge

ALLOW_LOCAL = "DEPLOYCTL_ALLOW_LOCAL_BACKEND"


def in_ci(environ: dict[str, str] | os._Environ[str]) -> bool:
    return any(environ.get(k, "").lower() not in ("", "0", "false") for k in ("CI", "GITHUB_ACTIONS"))


def passphrase_set(environ: dict[str, str] | os._Environ[str]) -> bool:
    if environ.get("PULUMI_CONFIG_PASSPHRASE"):
        return True
    file = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if not file:
        return False
    return Path(file).is_file() and bool(Path(file).read_text(encoding="utf-8").strip())


def _stack_file(root: Path, env: str) -> dict[str, Any]:
    """The stack config's top-level keys ({} when it cannot be read: `check` says why)."""
    from deployctl.core.repo.yamlfile import YamlError, load_yaml  # the one bounded YAML reader

    file = f"Pulumi.{env}.yaml"
    try:
        data = load_yaml((root / file).read_text(encoding="utf-8"), file, "stack-config")[0] or {}
    except (OSError, YamlError):
        return {}
    return data if isinstance(data, dict) else {}


def secrets_provider(root: Path, env: str) -> str | None:
    """The stack's `secretsprovider` (awskms://..., gcpkms://...), None for the passphrase."""
    provider = _stack_file(root, env).get("secretsprovider")
    return str(provider) if provider and provider != "passphrase" else None


def encryption_salt(root: Path, env: str) -> str | None:
    """The passphrase stack's `encryptionsalt` (its check value), None when it has none yet."""
    salt = _stack_file(root, env).get("encryptionsalt")
    return str(salt) if salt else None


def passphrase(environ: dict[str, str] | os._Environ[str]) -> str:
    """The passphrase Pulumi will use, read as Pulumi reads it: PULUMI_CONFIG_PASSPHRASE (even empty),
    else the file PULUMI_CONFIG_PASSPHRASE_FILE names, trimmed; else empty."""
    if "PULUMI_CONFIG_PASSPHRASE" in environ:
        return environ["PULUMI_CONFIG_PASSPHRASE"]
    file = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    try:
        return Path(file).read_text(encoding="utf-8").strip() if file else ""
    except OSError:
        return ""


def ci_refusals(url: str, root: Path, protected: dict[str, bool], providers: dict[str, str | None],
                environ: dict[str, str] | os._Environ[str]) -> list[str]:
    """What `up`/`preview` must refuse in CI (pure): each message names the variable to set."""
    if not in_ci(environ) or environ.get(ALLOW_LOCAL, "") not in ("", "0"):
        return []
    found = []
    if url.startswith("file://") and not in_repo_file_backend(url, root):
        found.append(
            f"PULUMI_BACKEND_URL is {redact_url(url)}, a folder on this runner: the state and the deploy history "
            "would vanish with it, as with the in-repo backend (the next run would create every app again). Set "
            "PULUMI_BACKEND_URL to a shared backend (in GitHub: vars.PULUMI_BACKEND_URL, e.g. "
            f"s3://acme-deploy-state/deploys?region=eu-west-1). Only a throwaway demo or test may set {ALLOW_LOCAL}=1."
        )
    if in_repo_file_backend(url, root):
        found.append(
            "PULUMI_BACKEND_URL is not set, so the state and the deploy history would live in this runner's "
            f"{STATE_DIR}/ and vanish with it (the next run would create every app again). Set "
            "PULUMI_BACKEND_URL (in GitHub: vars.PULUMI_BACKEND_URL, e.g. s3://acme-deploy-state/deploys"
            f"?region=eu-west-1). Only a throwaway demo or test may set {ALLOW_LOCAL}=1."
        )
    bare = [env for env, on in protected.items() if on and providers.get(env) is None]
    if bare and not passphrase_set(environ):
        found.append(
            f"PULUMI_CONFIG_PASSPHRASE is not set, so the secrets of protected env(s) {', '.join(bare)} would be "
            "encrypted with the empty passphrase. Set PULUMI_CONFIG_PASSPHRASE (in GitHub: "
            "secrets.PULUMI_CONFIG_PASSPHRASE) or PULUMI_CONFIG_PASSPHRASE_FILE, or move the stack to a cloud "
            "secrets provider (README: \"Secrets for a team\")."
        )
    return found


def enforce_ci_policy(root: Path, protected: dict[str, bool]) -> None:
    """Raise CannotJudge (exit 2) when CI would lose the trace or deploy with the empty passphrase."""
    found = ci_refusals(backend_url(root), root, protected, {e: secrets_provider(root, e) for e in protected},
                        os.environ)
    if found:
        raise CannotJudge("refusing to run the engine in CI:\n  " + "\n  ".join(found))
