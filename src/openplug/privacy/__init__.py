"""Data rights: what openplug does when a person asks to be forgotten
(``rev-users.delete``) or to see everything held about them
(``rev-users.personal-data.export``), for GDPR-style requests."""
