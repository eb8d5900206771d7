"""deployctl: deploy files in git, carried out by Pulumi."""

__version__ = "0.2.0"
"""The one place the version lives: the package's metadata (pyproject.toml) and `deployctl --version` read it."""
