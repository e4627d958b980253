"""Webhooks: endpoints admins register, the events they subscribe to, how a delivery is signed,
retried and ordered, and which addresses may receive one (``docs/webhooks.md``)."""
