"""`scf`: the command-line tool for every role, over the HTTP API (and `scf up`, the runner)."""
