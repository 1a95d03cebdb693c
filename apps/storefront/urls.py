from django.urls import include, path

from apps.storefront.views import (
    accounts,
    buying,
    catalog,
    compare,
    insights,
    invitations,
    onprem,
    organization,
    pages,
    portal,
    trials,
)

app_name = "storefront"

urlpatterns = [
    path("", pages.home, name="home"),
    path("partners/", pages.partners, name="partners"),
    # the catalog
    path("apps/", catalog.catalog, name="catalog"),
    path("apps/<slug:slug>/", catalog.listing_detail, name="listing"),
    path("apps/<slug:slug>/trial/", catalog.listing_trial_request, name="listing-trial"),
    path("apps/<slug:slug>/quote/", catalog.listing_quote_request, name="listing-quote"),
    path("apps/<slug:slug>/buy/", catalog.listing_buy, name="listing-buy"),
    path("apps/<slug:slug>/reviews/", catalog.listing_review, name="listing-review"),
    # hospital IT compares up to three apps
    path("compare/", compare.compare, name="compare"),
    # people
    path("accounts/signup/", accounts.signup, name="signup"),
    path("accounts/signup/done/", accounts.signup_done, name="signup-done"),
    path("accounts/confirm/resend/", accounts.resend_confirmation, name="resend-confirmation"),
    path("accounts/confirm/<str:token>/", accounts.confirm_email, name="confirm-email"),
    path("accounts/login/", accounts.login_view, name="login"),
    path("accounts/logout/", accounts.logout_view, name="logout"),
    path("accounts/password/", accounts.password_change, name="password-change"),
    path("invitations/<str:token>/", invitations.invitation, name="invitation"),
    # the organization a person acts for
    path("organizations/new/", organization.organization_new, name="organization-create"),
    path("organizations/switch/", organization.organization_switch, name="organization-switch"),
    path("organization/", organization.organization_profile, name="organization"),
    path("organization/members/", organization.organization_members_page, name="organization-members"),
    path("organization/members/<uuid:public_id>/role/", organization.member_role, name="member-role"),
    path("organization/members/<uuid:public_id>/remove/", organization.member_remove, name="member-remove"),
    path("organization/invitations/new/", organization.invitation_new, name="invitation-create"),
    path(
        "organization/invitations/<uuid:public_id>/revoke/",
        organization.invitation_cancel,
        name="invitation-revoke",
    ),
    path("organization/sites/", organization.organization_sites_page, name="organization-sites"),
    path("organization/sites/new/", organization.site_new, name="site-create"),
    path("organization/sites/<uuid:public_id>/archive/", organization.site_remove, name="site-archive"),
    path(
        "organization/sites/<uuid:public_id>/enrollment-tokens/",
        onprem.enrollment_token_new,
        name="enrollment-token-create",
    ),
    path("organization/site-agents/<uuid:public_id>/revoke/", onprem.site_agent_revoke, name="site-agent-revoke"),
    path("organization/api-clients/", organization.organization_api_clients_page, name="organization-api-clients"),
    path("organization/api-clients/new/", organization.api_client_new, name="api-client-create"),
    path(
        "organization/api-clients/<uuid:public_id>/revoke/",
        organization.api_client_remove,
        name="api-client-revoke",
    ),
    # trials and deployments (both parties)
    path("organization/trials/", trials.trials_page, name="organization-trials"),
    path("organization/trials/<uuid:public_id>/", trials.trial_page, name="trial"),
    path("organization/trials/<uuid:public_id>/live/", trials.trial_live, name="trial-live"),
    path("organization/trials/<uuid:public_id>/approve/", trials.trial_approve_view, name="trial-approve"),
    path("organization/trials/<uuid:public_id>/decline/", trials.trial_decline_view, name="trial-decline"),
    path("organization/trials/<uuid:public_id>/cancel/", trials.trial_cancel_view, name="trial-cancel"),
    path("organization/trials/<uuid:public_id>/retry/", trials.trial_retry_view, name="trial-retry"),
    path("organization/trials/<uuid:public_id>/convert/", trials.trial_convert_view, name="trial-convert"),
    path("organization/analytics/", insights.analytics_page, name="organization-analytics"),
    path("organization/deployments/", trials.deployments_page, name="organization-deployments"),
    path("organization/deployments/<uuid:public_id>/", buying.deployment_page, name="deployment"),
    path("organization/deployments/<uuid:public_id>/live/", buying.deployment_live, name="deployment-live"),
    path("organization/deployments/<uuid:public_id>/retry/", buying.deployment_retry_view, name="deployment-retry"),
    # on premise: the bundle for an air-gapped site and its agent's receipt (provider members)
    path(
        "organization/deployments/<uuid:public_id>/bundle/", onprem.deployment_bundle_download, name="deployment-bundle"
    ),
    path(
        "organization/deployments/<uuid:public_id>/receipt/",
        onprem.deployment_receipt_upload,
        name="deployment-receipt",
    ),
    # the vendor's listings and how each offering is deployed
    # "My listings" (the vendor portal's list, with each offering's fulfillment settings) and the
    # portal's editor and requests inbox
    path("organization/listings/", portal.listings_page, name="vendor-listings"),
    path("organization/", include("apps.storefront.urls_portal")),
    path(
        "organization/offerings/<uuid:public_id>/fulfillment/",
        onprem.offering_fulfillment_page,
        name="offering-fulfillment",
    ),
    path(
        "organization/offerings/<uuid:public_id>/fulfillment/rotate-secret/",
        onprem.offering_secret_rotate,
        name="offering-secret-rotate",
    ),
    # quotes, orders, subscriptions and licenses (both parties; the services' mails link here)
    path("organization/quotes/", buying.quotes_page, name="organization-quotes"),
    path("organization/quotes/<uuid:public_id>/", buying.quote_page, name="quote"),
    path("organization/quotes/<uuid:public_id>/issue/", buying.quote_issue_view, name="quote-issue"),
    path("organization/quotes/<uuid:public_id>/withdraw/", buying.quote_withdraw_view, name="quote-withdraw"),
    path("organization/quotes/<uuid:public_id>/accept/", buying.quote_accept_view, name="quote-accept"),
    path("organization/quotes/<uuid:public_id>/decline/", buying.quote_decline_view, name="quote-decline"),
    path("organization/quotes/<uuid:public_id>/cancel/", buying.quote_cancel_view, name="quote-cancel"),
    path("organization/orders/", buying.orders_page, name="organization-orders"),
    path("organization/orders/<uuid:public_id>/", buying.order_page, name="order"),
    path("organization/subscriptions/", buying.subscriptions_page, name="organization-subscriptions"),
    path("organization/subscriptions/<uuid:public_id>/", buying.subscription_page, name="subscription"),
    path("organization/subscriptions/<uuid:public_id>/live/", buying.subscription_live, name="subscription-live"),
    path(
        "organization/subscriptions/<uuid:public_id>/suspend/",
        buying.subscription_suspend_view,
        name="subscription-suspend",
    ),
    path(
        "organization/subscriptions/<uuid:public_id>/resume/",
        buying.subscription_resume_view,
        name="subscription-resume",
    ),
    path(
        "organization/subscriptions/<uuid:public_id>/cancel/",
        buying.subscription_cancel_view,
        name="subscription-cancel",
    ),
    path("organization/licenses/<uuid:public_id>/download/", buying.license_download, name="license-download"),
]
