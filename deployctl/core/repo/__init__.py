"""The deploy repository as data: the deploy-file grammar, the `deploys/` tree, a snapshot at a commit, the
catalog, each env's settings, and what may be written into it."""
