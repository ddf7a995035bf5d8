"""erigolem_provider."""
