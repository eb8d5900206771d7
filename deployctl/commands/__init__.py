"""One module per verb (check, plan, preview, up, bump with promote and rollback, history, status, metrics,
deployed, codeowners, unlock, doctor); load.py reads the deploy repo for them; cli.py wires them to the CLI."""
