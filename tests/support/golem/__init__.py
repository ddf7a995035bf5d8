"""Test arrangement for the Golem backend: real yagna daemons and anvil, plus the stand-ins.

Stand-ins (each module says what it stands for): `gftp_stub` (gftp binary), `provider_agent`
(ya-provider), `exe_unit` (yagna's exe-unit process, speaking GSB through `gsb`).
"""
