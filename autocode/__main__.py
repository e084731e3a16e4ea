"""`python -m autocode` is the `autocode` command line."""

from autocode.service.cli import main

if __name__ == "__main__":
    main()
