"""The cloud at the edge: artifacts in S3/ECR and the health probes (shell, HTTP, ECS, Lambda)."""
