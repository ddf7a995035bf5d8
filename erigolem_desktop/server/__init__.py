"""`erigolem serve`: the headless REST requestor, compatible with the original Erigolem API."""
