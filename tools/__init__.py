"""Set-up and test tooling of the repository (image builds). Not shipped in the wheel."""
