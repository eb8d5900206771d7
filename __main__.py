"""The Pulumi program: the stack is the env folder; see stacks/program.py."""

from stacks.program import program

program()
