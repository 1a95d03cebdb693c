"""Procurement services: trials, quotes, orders, subscriptions, entitlements and licenses.
Import from here; the modules are split by object."""

from apps.procurement.services.common import terms_required
from apps.procurement.services.licenses import (
    license_revoke,
    licensing_jwks,
    revocation_list,
    signing_key_rotate,
)
from apps.procurement.services.orders import (
    ORDER_TRANSITIONS,
    SUBSCRIPTION_TRANSITIONS,
    order_place,
    order_place_check,
    subscription_cancel,
    subscription_follow_deployment,
    subscription_resume,
    subscription_suspend,
    subscriptions_sweep,
    trial_convert,
)
from apps.procurement.services.quotes import (
    QUOTE_TRANSITIONS,
    quote_accept,
    quote_cancel,
    quote_decline,
    quote_issue,
    quote_request_check,
    quote_request_create,
    quote_withdraw,
    quotes_sweep,
)
from apps.procurement.services.trials import (
    TRIAL_TRANSITIONS,
    trial_approve,
    trial_cancel,
    trial_decline,
    trial_follow_deployment,
    trial_request,
    trial_request_check,
    trials_sweep,
)

__all__ = [
    "ORDER_TRANSITIONS",
    "QUOTE_TRANSITIONS",
    "SUBSCRIPTION_TRANSITIONS",
    "TRIAL_TRANSITIONS",
    "license_revoke",
    "licensing_jwks",
    "order_place",
    "order_place_check",
    "quote_accept",
    "quote_cancel",
    "quote_decline",
    "quote_issue",
    "quote_request_check",
    "quote_request_create",
    "quote_withdraw",
    "quotes_sweep",
    "revocation_list",
    "signing_key_rotate",
    "subscription_cancel",
    "subscription_follow_deployment",
    "subscription_resume",
    "subscription_suspend",
    "subscriptions_sweep",
    "terms_required",
    "trial_approve",
    "trial_cancel",
    "trial_convert",
    "trial_decline",
    "trial_follow_deployment",
    "trial_request",
    "trial_request_check",
    "trials_sweep",
]
