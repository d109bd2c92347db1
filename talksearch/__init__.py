"""talksearch: make recorded talks searchable down to the second.

The shared core lives here: settings, the model manifest and loaders, and the on-disk library
format that both the indexer (write side) and the service (read side) use.
"""

__version__ = "0.1.0"
