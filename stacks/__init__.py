"""Env folder to stack: each `deploys/<env>/` is the Pulumi stack `<env>`."""
