"""Criteria groups: a group whose members are decided by conditions stored as data.

- :mod:`attributes`: the customer attributes conditions read.
- :mod:`models`: :class:`GroupCriteria` (conditions, include/exclude lists, minimum stay).
- :mod:`conditions`: the condition kinds, their validation and their ORM form. Kinds over data
  this app does not own register here: ``pricing`` adds the rated-usage kind
  (``pricing.criteria``) when the apps are ready, as it installs the date checks.
- :mod:`refresh`: who would join and leave (one set-based query each) and the refresh itself.
"""
