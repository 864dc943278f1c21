"""Entry script of the frozen ``xner`` (PyInstaller needs a file; the work is in xner.cli.main)."""

from xner.cli.main import main

if __name__ == "__main__":
    main()
