"""Controlled network egress for ``network = "egress"`` profiles.

The sandbox keeps its own, empty network namespace. Each allowed ``host:port`` gets a
listening socket on a loopback (or aliased) address inside it and a line in its
``/etc/hosts``; a forwarder thread in the sandbox relays every accepted connection to the
gateway over a unix socket, naming the allow-list entry. The gateway enforces everything:
the entry must be listed, it resolves the name itself, refuses loopback, link-local,
private and other special addresses unless the profile grants them, and connects to the
address it checked.
"""
