"""Suite-wide settings.

CI runs the property tests derandomized, so a submission's result does not depend on the examples drawn that
day; local runs keep drawing new examples to find new failures (set HYPOTHESIS_PROFILE=ci to replay CI's)."""
import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))
