"""`python -m kestrasync` runs the command-line interface."""

if __name__ == "__main__":  # a process pool's worker may import this module: it must not run the CLI
    from kestrasync.cli import main

    main()
