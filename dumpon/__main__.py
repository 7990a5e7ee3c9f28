"""`python -m dumpon`: the dumpon command."""

from dumpon.cli.dumpon import main

if __name__ == "__main__":
    main()
