"""Master config -> config tree, signed staging area, reconfig."""
