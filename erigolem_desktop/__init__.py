"""erigolem_desktop."""
