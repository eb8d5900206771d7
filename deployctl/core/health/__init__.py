"""Health after up: the checks' verdicts, their codec, and the switch-back's decisions."""
