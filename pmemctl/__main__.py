"""``python -m pmemctl``: the same CLI as the ``pmemctl`` command."""

from pmemctl.cli import main

if __name__ == "__main__":
    main()
