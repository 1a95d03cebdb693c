"""The vendor portal's pages, included under /organization/ in the store's namespace."""

from django.urls import path

from apps.storefront.views import portal, portal_inbox

LISTING = "listings/<slug:slug>"

urlpatterns = [
    path("listings/", portal.listings_page, name="portal-listings"),
    path(f"{LISTING}/", portal.listing_facts, name="portal-listing"),
    path(f"{LISTING}/preview/", portal.description_preview, name="portal-description-preview"),
    path(f"{LISTING}/revision/", portal.revision_page, name="portal-revision"),
    path(f"{LISTING}/revision/new/", portal.revision_new, name="portal-revision-create"),
    path(f"{LISTING}/revision/submit/", portal.revision_submit_view, name="portal-revision-submit"),
    path(f"{LISTING}/revision/withdraw/", portal.revision_withdraw_view, name="portal-revision-withdraw"),
    path(f"{LISTING}/revision/logo/", portal.revision_logo, name="portal-revision-logo"),
    path(
        f"{LISTING}/revision/screenshots/new/", portal.revision_screenshot_new, name="portal-revision-screenshot-create"
    ),
    path(
        f"{LISTING}/revision/screenshots/<uuid:public_id>/remove/",
        portal.revision_screenshot_remove_view,
        name="portal-revision-screenshot-remove",
    ),
    path(f"{LISTING}/offerings/", portal.offerings_page, name="portal-offerings"),
    path(f"{LISTING}/offerings/new/", portal.offering_new, name="portal-offering-create"),
    path(f"{LISTING}/offerings/<uuid:public_id>/", portal.offering_edit, name="portal-offering"),
    path(f"{LISTING}/offerings/<uuid:public_id>/active/", portal.offering_active, name="portal-offering-active"),
    path(f"{LISTING}/offerings/<uuid:public_id>/plans/new/", portal.plan_new, name="portal-plan-create"),
    path(f"{LISTING}/plans/<uuid:public_id>/", portal.plan_edit, name="portal-plan"),
    path(f"{LISTING}/plans/<uuid:public_id>/active/", portal.plan_active, name="portal-plan-active"),
    path(f"{LISTING}/versions/", portal.versions_page, name="portal-versions"),
    path(f"{LISTING}/versions/new/", portal.version_new, name="portal-version-create"),
    path(f"{LISTING}/versions/<uuid:public_id>/artifacts/", portal.artifact_new, name="portal-artifact-create"),
    path(f"{LISTING}/documents/", portal.documents_page, name="portal-documents"),
    path(f"{LISTING}/documents/new/", portal.document_new, name="portal-document-create"),
    path(f"{LISTING}/documents/<uuid:public_id>/remove/", portal.document_remove_view, name="portal-document-remove"),
    path(f"{LISTING}/logo/", portal.logo_upload, name="portal-logo"),
    path(f"{LISTING}/screenshots/new/", portal.screenshot_new, name="portal-screenshot-create"),
    path(
        f"{LISTING}/screenshots/<uuid:public_id>/remove/",
        portal.screenshot_remove_view,
        name="portal-screenshot-remove",
    ),
    path(f"{LISTING}/review/", portal.review_page, name="portal-review"),
    path(f"{LISTING}/submit/", portal.listing_submit_view, name="portal-submit"),
    path(f"{LISTING}/retire/", portal.listing_retire_view, name="portal-retire"),
    # the requests inbox: trials and quotes for the vendor's apps
    path("requests/", portal_inbox.requests_page, name="portal-requests"),
    path("requests/trials/<uuid:public_id>/approve/", portal_inbox.request_trial_approve, name="portal-trial-approve"),
    path("requests/trials/<uuid:public_id>/decline/", portal_inbox.request_trial_decline, name="portal-trial-decline"),
]
