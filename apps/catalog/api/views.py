"""Catalog API: search, listings and their parts, the review workflow and revisions."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404 as drf_get_object_or_404
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.catalog import selectors, services
from apps.catalog.api import serializers as s
from apps.catalog.files import ARTIFACT_POLICY, DOCUMENT_POLICY, FilePolicy
from apps.catalog.freshness import ConditionalCatalogMixin
from apps.catalog.models import (
    Artifact,
    Document,
    Listing,
    ListingRevision,
    Offering,
    Plan,
    Review,
    Screenshot,
    Version,
)
from apps.catalog.search import (
    CLOSED_VALUES,
    FACETS,
    ORDERINGS,
    SearchParams,
    SearchResults,
    catalog_first_ids,
    catalog_search,
    catalog_summary,
)
from apps.catalog.signals import listing_viewed
from marketplace.errors import Forbidden, ValidationFailed, flatten_errors
from marketplace.idempotency import idempotent_create
from marketplace.permissions import IsAuthenticatedPrincipal, PublicReadOrAuthenticated
from marketplace.principal import Principal, get_principal
from marketplace.schema import error_responses

UPLOAD_PARSERS = (MultiPartParser, FormParser)


def _principal(request: Request) -> Principal:
    return get_principal(request)


def _reason(request: Request) -> str:
    """The `reason` a workflow verb was sent. The service checks it (400 naming `reason`) only
    after checking who may act, so a caller without the right gets 403, not a lesson in input."""
    data = request.data if isinstance(request.data, dict) else {}
    reason = data.get("reason", "")
    return reason if isinstance(reason, str) else ""


def _file_responses(policy: FilePolicy) -> dict[tuple[int, str], Any]:
    """A download answers with the content type the file was stored with (the policy's types)."""
    types = sorted(
        set(policy.extensions.values()), key=lambda t: (t == "application/json", t != "application/octet-stream", t)
    )
    return {(200, t): OpenApiTypes.ANY if t == "application/json" else OpenApiTypes.BINARY for t in types}


def _download(stored: Any) -> FileResponse:
    """Files are always attachments, never rendered by the browser from our origin."""
    response = FileResponse(
        stored.file.open("rb"), as_attachment=True, filename=stored.filename, content_type=stored.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Checksum-SHA256"] = stored.sha256
    return response


class TermViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A browsing vocabulary with the number of published listings for each term."""

    permission_classes = (PublicReadOrAuthenticated,)
    serializer_class = s.TermWithCountSerializer
    lookup_field = "slug"
    vocabulary = "categories"

    def get_queryset(self) -> QuerySet:
        return selectors.terms_with_counts(vocabulary=self.vocabulary)


class CategoryViewSet(TermViewSet):
    vocabulary = "categories"


class SpecialtyViewSet(TermViewSet):
    vocabulary = "specialties"


class ModalityViewSet(TermViewSet):
    vocabulary = "modalities"


class StandardViewSet(TermViewSet):
    vocabulary = "standards"


SEARCH_PARAMETERS = [
    OpenApiParameter("q", str, description="Words to search for (ranked; small typos tolerated on PostgreSQL)."),
    OpenApiParameter("ordering", str, enum=list(ORDERINGS), description="Default: relevance with `q`, else name."),
    OpenApiParameter(
        "status", str, many=True, description="Vendors: their own listings in these states; operators: any."
    ),
    *[
        OpenApiParameter(facet, str, many=True, explode=True, description="Repeat for OR; filters AND together.")
        for facet in FACETS
    ],
]


@extend_schema_serializer(many=False, component_name="ListingSearchPage")
class ListingSearchPageSerializer(serializers.Serializer):
    """The search answer is itself the page (with `facets`): not wrapped in another page."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = s.ListingSummarySerializer(many=True)
    facets = serializers.DictField(child=s.FacetValueSerializer(many=True))


SEARCH_RESPONSE = ListingSearchPageSerializer


class ListingViewSet(ConditionalCatalogMixin, viewsets.GenericViewSet):
    """Listings ("apps"). Anyone searches and reads published ones; vendors create and edit
    drafts and submit them; operators review."""

    lookup_field = "slug"
    lookup_url_kwarg = "slug"
    permission_classes = (PublicReadOrAuthenticated,)
    queryset = Listing.objects.none()
    serializer_class = s.ListingDetailSerializer

    def get_queryset(self) -> QuerySet[Listing]:
        return selectors.listings_visible_to(principal=_principal(self.request)).select_related("vendor")

    def _detail(self, listing: Listing, *, status_code: int = 200) -> Response:
        principal = _principal(self.request)
        listing = (
            Listing.objects.select_related("vendor")
            .prefetch_related(
                "categories",
                "specialties",
                "modalities",
                "standards",
                "clearances",
                "screenshots",
                Prefetch("offerings", queryset=Offering.objects.prefetch_related("plans")),
                Prefetch("versions", queryset=Version.objects.prefetch_related("artifacts")),
            )
            .get(pk=listing.pk)
        )
        vendor_side = principal.is_operator or selectors.listing_is_vendor_side(listing=listing, principal=principal)
        documents = selectors.documents_visible_to(listing=listing, principal=principal).select_related("listing")
        context = {"vendor_side": vendor_side, "documents": list(documents), "request": self.request}
        return Response(s.ListingDetailSerializer(listing, context=context).data, status=status_code)

    # --- search ----------------------------------------------------------------------------

    def _search_params(self, request: Request) -> tuple[SearchParams, list[str]]:
        raw: dict[str, Any] = {"q": request.query_params.get("q", ""), "status": request.query_params.getlist("status")}
        if request.query_params.get("ordering"):
            raw["ordering"] = request.query_params["ordering"]
        query = s.SearchQuerySerializer(data=raw)
        if not query.is_valid():
            fields: dict[str, list[str]] = {}
            for name, messages in flatten_errors(query.errors).items():  # "status.0" -> "status"
                fields.setdefault(name.split(".")[0], []).extend(messages)
            raise ValidationFailed("Invalid search.", fields=fields)
        filters: dict[str, list[str]] = {}
        for facet in FACETS:
            values = [v.strip() for v in request.query_params.getlist(facet) if v.strip()][:50]
            closed = CLOSED_VALUES.get(facet)
            if closed and (unknown := [v for v in values if v not in closed]):
                raise ValidationFailed.for_field(
                    facet, f"Unknown value(s) {', '.join(unknown)}; choose from {', '.join(sorted(closed))}."
                )
            if values:
                filters[facet] = values
        data = query.validated_data
        params = SearchParams(query=data.get("q", "").strip(), filters=filters, ordering=data.get("ordering") or "")
        return params, data.get("status") or [Listing.Status.PUBLISHED]

    @extend_schema(parameters=SEARCH_PARAMETERS, responses=SEARCH_RESPONSE)
    def list(self, request: Request) -> Response:
        """Search the catalog: ranked words, facet filters (OR within a filter, AND across),
        facet counts under the other filters, ordering and pagination."""
        params, statuses = self._search_params(request)
        base = self.get_queryset().filter(status__in=statuses)
        # Only public statuses: everyone sees the same listings, so count and facets are shared.
        scope = ",".join(sorted(statuses)) if set(statuses) <= set(selectors.PUBLIC_STATUSES) else ""
        summary = catalog_summary(base=base, params=params, shared_scope=scope)
        # Rows, not model instances, and no per-field serializers: the page is most of a search's
        # Python time (s.listing_summaries gives what ListingSummarySerializer would).
        results = catalog_search(base=base, params=params).values(*s.SUMMARY_VALUES)
        first_ids = catalog_first_ids(
            results=results,
            params=params,
            shared_scope=scope,
            page_size=self.paginator.get_page_size(request),
            page=request.query_params.get("page"),
        )
        page = self.paginate_queryset(SearchResults(results, summary.count, first_ids))
        response = self.get_paginated_response(s.listing_summaries(page))
        response.data["facets"] = summary.facets
        return response

    def retrieve(self, request: Request, slug: str) -> Response:
        listing = self.get_object()
        listing_viewed.send(sender=Listing, listing=listing, viewer=_principal(request))
        return self._detail(listing)

    @extend_schema(request=s.ListingInputSerializer, responses={201: s.ListingDetailSerializer})
    def create(self, request: Request) -> Response:
        """A vendor creates a draft listing (member role or above)."""
        principal = _principal(request)
        if principal.organization is None:
            raise Forbidden("Act for a vendor organization to create listings.")

        def _create() -> Response:
            data = s.ListingInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            listing = services.listing_create(vendor=principal.organization, actor=principal, data=data.validated_data)
            return self._detail(listing, status_code=status.HTTP_201_CREATED)

        return idempotent_create(request, _create)

    @extend_schema(request=s.ListingUpdateSerializer, responses=s.ListingDetailSerializer)
    def partial_update(self, request: Request, slug: str) -> Response:
        """The vendor edits a draft or a listing with changes requested; live listings change
        through revisions."""
        data = s.ListingUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        listing = services.listing_update(
            listing=self.get_object(), actor=_principal(request), data=data.validated_data
        )
        return self._detail(listing)

    # --- workflow ---------------------------------------------------------------------------

    @extend_schema(request=None, responses=s.ListingDetailSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, slug: str) -> Response:
        """The vendor submits the listing for review (verified vendors only)."""
        return self._detail(services.listing_submit(listing=self.get_object(), actor=_principal(request)))

    @extend_schema(request=None, responses=s.ListingDetailSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, slug: str) -> Response:
        """An operator publishes the listing."""
        return self._detail(services.listing_approve(listing=self.get_object(), actor=_principal(request)))

    @extend_schema(request=s.ReasonSerializer, responses=s.ListingDetailSerializer)
    @action(detail=True, methods=["post"], url_path="request-changes")
    def request_changes(self, request: Request, slug: str) -> Response:
        """An operator sends the listing back to its vendor with a reason."""
        listing = services.listing_request_changes(
            listing=self.get_object(), actor=_principal(request), reason=_reason(request)
        )
        return self._detail(listing)

    @extend_schema(request=s.ReasonSerializer, responses=s.ListingDetailSerializer)
    @action(detail=True, methods=["post"])
    def suspend(self, request: Request, slug: str) -> Response:
        """An operator takes a live listing off the store for now, with a reason."""
        listing = services.listing_suspend(
            listing=self.get_object(), actor=_principal(request), reason=_reason(request)
        )
        return self._detail(listing)

    @extend_schema(request=None, responses=s.ListingDetailSerializer)
    @action(detail=True, methods=["post"])
    def reinstate(self, request: Request, slug: str) -> Response:
        """An operator publishes a suspended listing again."""
        return self._detail(services.listing_reinstate(listing=self.get_object(), actor=_principal(request)))

    @extend_schema(request=s.OptionalReasonSerializer, responses=s.ListingDetailSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request: Request, slug: str) -> Response:
        """The vendor's admins or an operator retire the listing for good."""
        listing = services.listing_retire(listing=self.get_object(), actor=_principal(request), reason=_reason(request))
        return self._detail(listing)

    @extend_schema(
        request={"multipart/form-data": inline_serializer("LogoUpload", {"file": serializers.ImageField()})},
        responses=s.ListingDetailSerializer,
    )
    @action(detail=True, methods=["post"], parser_classes=UPLOAD_PARSERS)
    def logo(self, request: Request, slug: str) -> Response:
        """The vendor uploads the listing's logo (PNG, JPEG or WebP, at most 5 MB)."""
        listing = services.listing_set_logo(
            listing=self.get_object(), actor=_principal(request), upload=request.FILES.get("file")
        )
        return self._detail(listing)


class ListingChildMixin(ConditionalCatalogMixin):
    """Nested under /apps/{slug}/: the listing must be visible to the caller (404 otherwise)."""

    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    permission_classes = (PublicReadOrAuthenticated,)
    request: Request
    kwargs: dict[str, Any]

    @cached_property
    def principal(self) -> Principal:
        return _principal(self.request)

    @cached_property
    def listing(self) -> Listing:
        visible = selectors.listings_visible_to(principal=self.principal).select_related("vendor")
        return get_object_or_404(visible, slug=self.kwargs["listing_slug"])

    @property
    def vendor_side(self) -> bool:
        return self.principal.is_operator or selectors.listing_is_vendor_side(
            listing=self.listing, principal=self.principal
        )


class OfferingViewSet(ListingChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """What can be deployed where. Vendors add offerings; a live offering is only deactivated."""

    serializer_class = s.OfferingSerializer
    queryset = Offering.objects.none()
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Offering]:
        offerings = self.listing.offerings.prefetch_related("plans")
        return offerings if self.vendor_side else offerings.filter(is_active=True)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "show_inactive": self.vendor_side}  # type: ignore[misc]

    @extend_schema(request=s.OfferingInputSerializer, responses={201: s.OfferingSerializer})
    def create(self, request: Request, listing_slug: str) -> Response:
        def _create() -> Response:
            data = s.OfferingInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            offering = services.offering_create(listing=self.listing, actor=self.principal, data=data.validated_data)
            return Response(s.OfferingSerializer(offering, context=self.get_serializer_context()).data, status=201)

        return idempotent_create(request, _create)

    @extend_schema(request=s.OfferingInputSerializer, responses=s.OfferingSerializer)
    def partial_update(self, request: Request, listing_slug: str, id: str) -> Response:
        data = s.OfferingInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        offering = services.offering_update(offering=self.get_object(), actor=self.principal, data=data.validated_data)
        return Response(s.OfferingSerializer(offering, context=self.get_serializer_context()).data)

    def _fulfillment_answer(self, offering: Offering, secret: str = "") -> Response:
        body: dict[str, Any] = {
            "provisioner": offering.provisioner,
            "fulfillment_url": offering.fulfillment_url,
            "secret_set": bool(offering.fulfillment_secret),
            "previous_secret_expires_at": offering.fulfillment_previous_secret_until,
        }
        if secret:
            body["fulfillment_secret"] = secret
        return Response(s.FulfillmentSettingsSerializer(body).data)

    @extend_schema(methods=["GET"], request=None, responses=s.FulfillmentSettingsSerializer)
    @extend_schema(
        methods=["POST"], request=s.FulfillmentSettingsInputSerializer, responses=s.FulfillmentSettingsSerializer
    )
    @action(detail=True, methods=["get", "post"], permission_classes=[IsAuthenticatedPrincipal])
    def fulfillment(self, request: Request, listing_slug: str, id: str) -> Response:
        """How this offering is deployed and the vendor's fulfillment endpoint (vendor side only;
        vendor admins change it, also on live offerings). The signing secret is shown once, when
        it is made (the first URL, or `rotate_secret`)."""
        offering = self.get_object()
        if not self.vendor_side:
            raise Forbidden("Only the vendor sees its fulfillment settings.")
        if request.method == "GET":
            return self._fulfillment_answer(offering)
        from apps.provisioning.backends import backend_names

        data = s.FulfillmentSettingsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        offering, secret = services.offering_set_fulfillment(
            offering=offering,
            actor=self.principal,
            provisioner=values.get("provisioner"),
            fulfillment_url=values.get("fulfillment_url"),
            rotate_secret=values["rotate_secret"],
            overlap_hours=values["overlap_hours"],
            allowed_provisioners=backend_names(),
        )
        return self._fulfillment_answer(offering, secret)


class PlanViewSet(ListingChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """How each offering is paid for, with trial terms. A live plan is only deactivated."""

    serializer_class = s.PlanSerializer
    queryset = Plan.objects.none()
    http_method_names = ["get", "post", "patch", "head", "options"]
    filterset_fields = ("pricing_model",)

    def get_queryset(self) -> QuerySet[Plan]:
        plans = Plan.objects.filter(offering__listing=self.listing).select_related("offering")
        return plans if self.vendor_side else plans.filter(is_active=True, offering__is_active=True)

    @extend_schema(request=s.PlanInputSerializer, responses={201: s.PlanSerializer})
    def create(self, request: Request, listing_slug: str) -> Response:
        def _create() -> Response:
            data = s.PlanInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            values = dict(data.validated_data)
            offering = self.listing.offerings.filter(public_id=values.pop("offering")).first()
            if offering is None:
                raise ValidationFailed.for_field("offering", "No such offering on this listing.")
            plan = services.plan_create(offering=offering, actor=self.principal, data=values)
            return Response(s.PlanSerializer(plan).data, status=201)

        return idempotent_create(request, _create)

    @extend_schema(request=s.PlanInputSerializer, responses=s.PlanSerializer)
    def partial_update(self, request: Request, listing_slug: str, id: str) -> Response:
        data = s.PlanInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values.pop("offering", None)  # a plan stays with its offering
        plan = services.plan_update(plan=self.get_object(), actor=self.principal, data=values)
        return Response(s.PlanSerializer(plan).data)


class VersionViewSet(ListingChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Releases of the listing with their artifacts (checksums measured by the server)."""

    serializer_class = s.VersionSerializer
    queryset = Version.objects.none()

    def get_queryset(self) -> QuerySet[Version]:
        return self.listing.versions.prefetch_related("artifacts")

    @extend_schema(request=s.VersionInputSerializer, responses={201: s.VersionSerializer})
    def create(self, request: Request, listing_slug: str) -> Response:
        def _create() -> Response:
            data = s.VersionInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            version = services.version_create(listing=self.listing, actor=self.principal, data=data.validated_data)
            return Response(s.VersionSerializer(version).data, status=201)

        return idempotent_create(request, _create)

    @extend_schema(request={"multipart/form-data": s.ArtifactInputSerializer}, responses={201: s.ArtifactSerializer})
    @action(detail=True, methods=["post"], parser_classes=UPLOAD_PARSERS)
    def artifacts(self, request: Request, listing_slug: str, id: str) -> Response:
        """Upload an artifact (installer, image, manual) to this version."""
        data = s.ArtifactInputSerializer(
            data={"kind": request.data.get("kind") or Artifact.Kind.INSTALLER, "file": request.FILES.get("file")}
        )
        data.is_valid(raise_exception=True)
        artifact = services.artifact_add(
            version=self.get_object(),
            actor=self.principal,
            kind=data.validated_data["kind"],
            upload=data.validated_data["file"],
        )
        return Response(s.ArtifactSerializer(artifact).data, status=201)

    @extend_schema(
        responses={**_file_responses(ARTIFACT_POLICY), **error_responses(403)},
        parameters=[OpenApiParameter("artifact", OpenApiTypes.UUID, OpenApiParameter.PATH)],
    )
    @action(detail=True, methods=["get"], url_path=r"artifacts/(?P<artifact>[0-9a-f-]{36})/download")
    def artifact_download(self, request: Request, listing_slug: str, id: str, artifact: str) -> FileResponse:
        """The vendor and operators download artifacts here; customers receive them through
        their entitlements."""
        if not self.vendor_side:
            raise Forbidden("Artifacts are delivered to entitled sites, not downloaded from the catalog.")
        stored = drf_get_object_or_404(Artifact, version=self.get_object(), public_id=artifact)
        return _download(stored)


class DocumentViewSet(ListingChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Papers hospital IT asks for. Public ones for everyone; "on request" ones for verified
    providers. Uploads are multipart (`kind`, `title`, `visibility`, `file`)."""

    serializer_class = s.DocumentSerializer
    queryset = Document.objects.none()
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_parsers(self) -> list[Any]:
        if getattr(self.request, "method", "GET") == "POST":
            return [parser() for parser in (*UPLOAD_PARSERS, JSONParser)]
        return super().get_parsers()  # type: ignore[misc]

    def get_queryset(self) -> QuerySet[Document]:
        return selectors.documents_visible_to(listing=self.listing, principal=self.principal).select_related("listing")

    @extend_schema(request={"multipart/form-data": s.DocumentInputSerializer}, responses={201: s.DocumentSerializer})
    def create(self, request: Request, listing_slug: str) -> Response:
        payload = request.data if isinstance(request.data, Mapping) else {}
        data = s.DocumentInputSerializer(
            data={
                "kind": payload.get("kind"),
                "title": payload.get("title", ""),
                "visibility": payload.get("visibility") or Document.Visibility.PUBLIC,
                "file": request.FILES.get("file"),
            }
        )
        if not data.is_valid():
            fields = {k: [str(e) for e in v] for k, v in data.errors.items()}
            if "file" in fields and "file" not in request.FILES:
                fields["file"] = ["Attach a file."]
            raise ValidationFailed("Invalid document.", fields=fields)
        values = data.validated_data
        document = services.document_add(
            listing=self.listing,
            actor=self.principal,
            kind=values["kind"],
            title=values.get("title", ""),
            visibility=values["visibility"],
            upload=values["file"],
        )
        return Response(s.DocumentSerializer(document).data, status=201)

    def destroy(self, request: Request, listing_slug: str, id: str) -> Response:
        services.document_remove(document=self.get_object(), actor=self.principal)
        return Response(status=204)

    @extend_schema(responses=_file_responses(DOCUMENT_POLICY))
    @action(detail=True, methods=["get"])
    def download(self, request: Request, listing_slug: str, id: str) -> FileResponse:
        """The file, as an attachment, with its SHA-256 in `X-Checksum-SHA256`."""
        return _download(self.get_object())


def _screenshot_input(request: Request) -> dict[str, Any]:
    """The multipart fields of a screenshot upload (`caption`, `file`), checked."""
    payload = request.data if isinstance(request.data, Mapping) else {}
    data = s.ScreenshotInputSerializer(data={"caption": payload.get("caption", ""), "file": request.FILES.get("file")})
    if not data.is_valid():
        fields = {k: [str(e) for e in v] for k, v in data.errors.items()}
        if "file" in fields and "file" not in request.FILES:
            fields["file"] = ["Attach a file."]
        raise ValidationFailed("Invalid screenshot.", fields=fields)
    return dict(data.validated_data)


class ScreenshotViewSet(ListingChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The listing's screenshots, in order. The vendor adds (multipart `file`, `caption`) and
    removes them while the listing is a draft; a live listing's change through a revision
    (`.../revisions/{id}/screenshots/`), so the store shows only what was reviewed."""

    serializer_class = s.ScreenshotSerializer
    queryset = Screenshot.objects.none()
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_parsers(self) -> list[Any]:
        if getattr(self.request, "method", "GET") == "POST":
            return [parser() for parser in (*UPLOAD_PARSERS, JSONParser)]
        return super().get_parsers()  # type: ignore[misc]

    def get_queryset(self) -> QuerySet[Screenshot]:
        return self.listing.screenshots.select_related("listing__vendor")

    @extend_schema(
        request={"multipart/form-data": s.ScreenshotInputSerializer}, responses={201: s.ScreenshotSerializer}
    )
    def create(self, request: Request, listing_slug: str) -> Response:
        values = _screenshot_input(request)
        screenshot = services.screenshot_add(
            listing=self.listing, actor=self.principal, caption=values["caption"], upload=values["file"]
        )
        return Response(s.ScreenshotSerializer(screenshot).data, status=201)

    def destroy(self, request: Request, listing_slug: str, id: str) -> Response:
        services.screenshot_remove(screenshot=self.get_object(), actor=self.principal)
        return Response(status=204)


class RevisionViewSet(ListingChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Changes to a live listing, reviewed like a listing while the live version stays.
    `changes` shows reviewers what a revision changes."""

    serializer_class = s.RevisionSerializer
    queryset = ListingRevision.objects.none()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[ListingRevision]:
        return selectors.revisions_visible_to(listing=self.listing, principal=self.principal).select_related("listing")

    @extend_schema(request=s.ListingUpdateSerializer, responses={201: s.RevisionSerializer})
    def create(self, request: Request, listing_slug: str) -> Response:
        def _create() -> Response:
            data = s.ListingUpdateSerializer(data=request.data, partial=True)
            data.is_valid(raise_exception=True)
            revision = services.revision_create(listing=self.listing, actor=self.principal, data=data.validated_data)
            return Response(s.RevisionSerializer(revision).data, status=201)

        return idempotent_create(request, _create)

    @extend_schema(request=s.ListingUpdateSerializer, responses=s.RevisionSerializer)
    def partial_update(self, request: Request, listing_slug: str, id: str) -> Response:
        data = s.ListingUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        revision = services.revision_update(revision=self.get_object(), actor=self.principal, data=data.validated_data)
        return Response(s.RevisionSerializer(revision).data)

    @extend_schema(request=None, responses=s.RevisionSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, listing_slug: str, id: str) -> Response:
        return Response(
            s.RevisionSerializer(services.revision_submit(revision=self.get_object(), actor=self.principal)).data
        )

    @extend_schema(request=None, responses=s.RevisionSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, listing_slug: str, id: str) -> Response:
        return Response(
            s.RevisionSerializer(services.revision_approve(revision=self.get_object(), actor=self.principal)).data
        )

    @extend_schema(request=s.ReasonSerializer, responses=s.RevisionSerializer)
    @action(detail=True, methods=["post"], url_path="request-changes")
    def request_changes(self, request: Request, listing_slug: str, id: str) -> Response:
        revision = services.revision_request_changes(
            revision=self.get_object(), actor=self.principal, reason=_reason(request)
        )
        return Response(s.RevisionSerializer(revision).data)

    @extend_schema(request=None, responses=s.RevisionSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, listing_slug: str, id: str) -> Response:
        return Response(
            s.RevisionSerializer(services.revision_withdraw(revision=self.get_object(), actor=self.principal)).data
        )

    @extend_schema(
        request={"multipart/form-data": inline_serializer("RevisionLogoUpload", {"file": serializers.ImageField()})},
        responses=s.RevisionSerializer,
    )
    @action(detail=True, methods=["post"], parser_classes=UPLOAD_PARSERS)
    def logo(self, request: Request, listing_slug: str, id: str) -> Response:
        """Propose a new logo (PNG, JPEG or WebP, at most 5 MB) for the live listing."""
        revision = services.revision_set_logo(
            revision=self.get_object(), actor=self.principal, upload=request.FILES.get("file")
        )
        return Response(s.RevisionSerializer(revision).data)

    @extend_schema(request={"multipart/form-data": s.ScreenshotInputSerializer}, responses=s.RevisionSerializer)
    @action(detail=True, methods=["post"], parser_classes=UPLOAD_PARSERS)
    def screenshots(self, request: Request, listing_slug: str, id: str) -> Response:
        """Propose a screenshot, after the others (multipart `file`, `caption`)."""
        values = _screenshot_input(request)
        revision = services.revision_screenshot_add(
            revision=self.get_object(), actor=self.principal, caption=values["caption"], upload=values["file"]
        )
        return Response(s.RevisionSerializer(revision).data)

    @extend_schema(request=None, responses=s.RevisionSerializer)
    @action(detail=True, methods=["delete"], url_path=r"screenshots/(?P<screenshot_id>[0-9a-fA-F-]{36})")
    def remove_screenshot(self, request: Request, listing_slug: str, id: str, screenshot_id: str) -> Response:
        """Propose to remove a screenshot (a live one, or one the revision added); the answer is
        the revision."""
        revision = services.revision_screenshot_remove(
            revision=self.get_object(), actor=self.principal, screenshot_id=screenshot_id
        )
        return Response(s.RevisionSerializer(revision).data)


class ReviewViewSet(ListingChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Ratings and reviews by customer organizations: public to read; organizations that had a
    trial or a subscription of the app post one each."""

    serializer_class = s.ReviewSerializer
    queryset = Review.objects.none()
    http_method_names = ["get", "post", "head", "options"]
    filterset_fields = ("rating",)

    def get_queryset(self) -> QuerySet[Review]:
        return self.listing.reviews.select_related("organization", "listing")

    @extend_schema(request=s.ReviewInputSerializer, responses={201: s.ReviewSerializer})
    def create(self, request: Request, listing_slug: str) -> Response:
        if self.principal.organization is None:
            raise Forbidden("Act for a customer organization to review apps.")

        def _create() -> Response:
            data = s.ReviewInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            review = services.review_post(listing=self.listing, actor=self.principal, **data.validated_data)
            return Response(s.ReviewSerializer(review).data, status=status.HTTP_201_CREATED)

        return idempotent_create(request, _create)
