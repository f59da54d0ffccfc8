"""The knowledge graph: entities, observations and relations with provenance, through the log.

Import from the modules (``graph``, ``records``, ``memoryfile``): ``core.ports`` imports
``records``, so this package imports nothing itself.
"""
