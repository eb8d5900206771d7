"""One module per verb (preview, up, metrics, doctor; the rest in service.py), wired by cli.py."""
