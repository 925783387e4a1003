"""pmemsim for an installed pmemctl: find its Go source, build it once, serve it.

:mod:`.build` builds the simulator from the source shipped in the package
(or, in a checkout, ``tests/pmemsim``) into ``~/.cache/pmemctl``;
:mod:`.serve` starts it on a free port and stops it (``pmemctl rehearse``).
"""
