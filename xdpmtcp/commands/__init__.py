"""CLI subcommands: each module has add_parser(subparsers) and a handler
returning an exit code."""
