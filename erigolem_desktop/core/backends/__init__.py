"""Backends that run nodes: Local (erigolem-runtime on this computer) and Golem (yapapi)."""
