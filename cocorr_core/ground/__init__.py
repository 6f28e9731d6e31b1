"""Ground floor: errors and validation, profiles, devices (`ground.devices`, which loads torch),
source fingerprints."""
from .errors import ConfigError, EnvironmentFault, UserError, check_choice, check_range
from .fingerprint import paper_fingerprint, shared_fingerprint
from .profiles import PROFILE_ENV, PROFILE_NAMES, by_profile, profile_name

__all__ = ["PROFILE_ENV", "PROFILE_NAMES", "ConfigError", "EnvironmentFault", "UserError", "by_profile",
           "check_choice", "check_range", "paper_fingerprint", "profile_name", "shared_fingerprint"]
