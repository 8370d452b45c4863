"""Settings: every knob, read from flags, environment and the config file.

schema (every setting in one dataclass), loading (flags > environment > file > defaults, with
where each came from), checks (value validators), keystore (the API key in the system keyring).
"""
