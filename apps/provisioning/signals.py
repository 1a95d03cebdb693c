"""Sent inside the transaction of every deployment transition, so other apps (procurement's
trials and subscriptions) follow it atomically without provisioning importing them."""

from django.dispatch import Signal

# kwargs: deployments (those that entered new_status, locked, one or many), new_status, actor.
# One signal for a batch, so receivers can follow a batch with a few statements.
deployments_status_changed = Signal()
