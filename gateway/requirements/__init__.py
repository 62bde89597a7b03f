"""Plugin requirements: parsing, the operator's policy, content-addressed install directories, the installer sandbox."""
