"""The Pulumi program: the stack is the env folder; see stacks/program.py.

The program's process is short-lived and allocates several objects per resource (Pulumi's Outputs,
futures and tasks): Python's collector, at its default (every 700 allocations), took about a sixth
of the program's own time for 200 apps, ~6% of their preview (bench/bench_engine.py). It runs less
often here, and never again over what the imports built."""

import gc

gc.set_threshold(10_000, 10, 10)

from deployctl.stacks.program import program  # noqa: E402  # imported after the collector is set: the imports allocate too

gc.freeze()
program()
