"""The warm server: one per-user process that has imported torch, SymPy and the rest, and serves
each call from a fresh child forked from it, so a call costs milliseconds instead of the two
seconds of imports.

The modules here are the calling side, and import nothing heavy (the entry point stays as light
as ``--version``): :mod:`.place` (where the socket lives, and that it is private), :mod:`.wire`
(the frames on the socket), :mod:`.client` (the ``gradcli`` entry point's side: forward a call
or say why not) and :mod:`.control` (``gradcli server start|stop|status|restart``). The server
process itself is :mod:`gradcli.daemon` (its loop, and what a forked child does to become the
call it serves).
"""
