"""The SSH side of the fleet: install agents on hosts and reach them through tunnels.

``session`` (verified paramiko connections), ``hostkeys`` (known_hosts policy), ``tunnel``
(loopback port forwarding for the gRPC transport), ``probe`` (what a host is), ``wheels``
(what it gets), ``units`` and ``service`` (how the agent is kept running), ``install`` (the
``rigbench agent install|upgrade|status|logs|uninstall`` steps).
"""
