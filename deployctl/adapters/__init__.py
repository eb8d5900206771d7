"""The edges, one subpackage per system: git (git/: the deploy repo, its history, the app repositories),
the Pulumi engine and its backend (pulumi/), the cloud (cloud/: S3/ECR artifacts, health probes); and
GitHub, Slack and the deadlines every HTTP call shares."""
