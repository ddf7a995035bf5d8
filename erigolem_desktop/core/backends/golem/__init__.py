"""The Golem backend: nodes rented from providers through yagna + yapapi.

Import `erigolem_desktop.core.backends.golem.backend.GolemBackend`; this package stays light
(yapapi is imported by the modules that need it, not here).
"""
