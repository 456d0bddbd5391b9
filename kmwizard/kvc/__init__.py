"""The KVC method: kmods-via-containers delivered in a MachineConfig (the steps: kvc/render.py)."""

# The first line of generate's <name>.files.txt listing (kvc/render.py writes it): `validate` and
# `import` know the file by it, without importing the KVC linter for a KMM file.
LISTING_HEADER = "# mode  path  (what the node gets; links in the tree were dereferenced)"
