"""Sent inside the transaction of every deployment transition, so other apps (procurement's
trials and subscriptions) follow it atomically without provisioning importing them."""

from django.dispatch import Signal

# kwargs: deployment, old_status, new_status, actor
deployment_status_changed = Signal()
