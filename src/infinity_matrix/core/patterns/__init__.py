"""Pattern recognition: syntax fingerprints of code shared into context, and the recurring ones.

Import from the modules (``fingerprint``, ``python``, ``languages``, ``extract``, ``service``).
"""
