"""erigolem_runtime."""
