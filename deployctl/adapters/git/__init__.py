"""git at the edge: the deploy repository, its history, and the app repositories' cache and commit graph."""
