"""xner command line: thin typer commands over xner.runtime and xner.export functions."""
