"""deployctl: deploy files in git, carried out by Pulumi."""
