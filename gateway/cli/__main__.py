"""``python -m gateway.cli``: the same as the ``airlock`` console script."""

from gateway.cli.main import main

main()
