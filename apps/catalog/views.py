"""Listing images (logos, screenshots) from local storage. With S3 their URLs point at the
bucket instead; either way they are served with their checked image type and `nosniff`."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_safe

IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


@require_safe
def listing_image(request: HttpRequest, path: str) -> FileResponse:
    name = f"listings/{path}"
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ".." in path.split("/") or extension not in IMAGE_TYPES or not default_storage.exists(name):
        raise Http404("No such image.")
    response = FileResponse(default_storage.open(name, "rb"), content_type=IMAGE_TYPES[extension])
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "public, max-age=86400"
    return response
