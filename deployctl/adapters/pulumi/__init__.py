"""The Pulumi engine at the edge: the CLI, the Automation API, the event log, the backend's state and locks,
health probes' switch-back."""
