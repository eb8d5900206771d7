"""The deployment trace: git history joined with Pulumi's updates, what runs, drift, and the delivery
metrics."""
