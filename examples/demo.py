"""The README demo: ``python -m examples.demo`` (the same as ``rhom demo``)."""

from rhom.demo.__main__ import main

if __name__ == "__main__":
    main()
