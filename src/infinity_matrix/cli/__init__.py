"""The ``imx`` command line: a thin client of the hub, plus the server-side admin commands."""
