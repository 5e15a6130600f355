"""`python -m kestrasync` runs the command-line interface."""

from kestrasync.cli import main

main()
