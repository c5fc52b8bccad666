"""The ``cerebro`` command line. Each sub-command lives in its own module of this package and exposes
``register(subparsers)``; :mod:`cerebro.cli.main` discovers them."""
