"""Notifications: which events reach whom on which channel (inbox, email, push), what they say,
and the delivery record that makes each send happen once (``docs/notifications.md``)."""
