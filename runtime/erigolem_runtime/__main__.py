"""`python -m erigolem_runtime` == the `erigolem-runtime` console script."""

from erigolem_runtime.cli import main

if __name__ == "__main__":
    main()
