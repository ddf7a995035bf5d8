"""Test arrangement for the Golem backend: real yagna daemons and anvil, plus the stand-ins.

Stand-ins (each module says what it stands for): `gftp` (gftp binary), `provider_agent`
(ya-provider), `activity_service` (yagna's activity API routed to an exe-unit).
"""
