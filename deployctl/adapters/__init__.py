"""The edges: git (the deploy repo, the app repositories and their commit graph), the Pulumi engine
and its backend, GitHub, Slack, S3/ECR artifacts; the switch-back drives the engine."""
