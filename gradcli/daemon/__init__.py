"""The warm server's own process (see :mod:`gradcli.server` for the design and the client):
:mod:`.loop` imports everything once and serves calls, :mod:`.child` turns a forked child into
the call it serves. This is the top of the package: it runs the command line (:mod:`gradcli.cli`)
in each child.
"""
