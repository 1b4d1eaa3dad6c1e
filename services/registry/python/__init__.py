"""The Python registry's pure parts: core metadata, the simple API pages, twine's upload form."""
