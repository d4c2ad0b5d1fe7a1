"""The warm server: one per-user process that has imported torch, SymPy and the rest, and serves
each call from a fresh child forked from it, so a call costs milliseconds instead of the two
seconds of imports.

The modules here split along the data flow: :mod:`.place` (where the socket lives, and that it
is private), :mod:`.wire` (the frames on the socket), :mod:`.client` (the ``gradcli`` entry
point's side: forward a call or say why not), :mod:`.daemon` (the server's loop),
:mod:`.child` (what a forked child does to become the call it serves) and :mod:`.control`
(``gradcli server start|stop|status|restart``). The client and the control side import nothing
heavy: the entry point stays as light as ``--version``.
"""
