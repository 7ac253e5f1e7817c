"""openplug: a self-hostable support widget with secure user identification.

The HTTP contract is DevRev PLuG's, so a backend written for DevRev works by
changing only its base URL.
"""

__version__ = "0.1.0"
