"""One module per verb (check, plan, preview, up, bump with promote and rollback, history, status, metrics,
deployed, codeowners, unlock, doctor, init, install-engine, propose, drift, pr-data and pr-comment): each
takes a typed request (a frozen dataclass of its options), does the work, prints it through the console
and returns an ExitStatus. load.py reads the deploy repo for them; options.py parses an option's value,
output.py writes a file the user named; helptext.py holds what --help says; cli.py only declares the
options and dispatches."""
