"""Test-wide settings: a private kernel cache, so tests never read or litter the user's."""
import os
import tempfile

os.environ["SYMGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="symgrad-test-cache-")
