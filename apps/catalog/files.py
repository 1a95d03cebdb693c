"""Uploaded files: size limits, extension and content checks, SHA-256 measured by the server.

Nothing that a browser would render as a page (HTML, SVG, XML with scripts) is accepted as an
image, and downloads are always served as attachments with `nosniff` (see api/views.py)."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile

from marketplace.errors import ValidationFailed

MB = 1024 * 1024

# Magic numbers for the types whose content we can check cheaply.
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "webp": (b"RIFF",),
    "zip": (b"PK\x03\x04", b"PK\x05\x06"),
    "xlsx": (b"PK\x03\x04",),
    "docx": (b"PK\x03\x04",),
    "gz": (b"\x1f\x8b",),
    "tgz": (b"\x1f\x8b",),
}
_HTML_LIKE = re.compile(rb"<\s*(!doctype\s+html|html|script|svg|iframe|body)\b", re.IGNORECASE)


@dataclass(frozen=True)
class FilePolicy:
    name: str
    extensions: dict[str, str]  # extension -> content type we store and serve
    max_bytes: int


IMAGE_POLICY = FilePolicy(
    "image", {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}, 5 * MB
)
DOCUMENT_POLICY = FilePolicy(
    "document",
    {
        "pdf": "application/pdf",
        "json": "application/json",
        "xml": "application/xml",
        "txt": "text/plain",
        "csv": "text/csv",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "zip": "application/zip",
    },
    25 * MB,
)
ARTIFACT_POLICY = FilePolicy(
    "artifact",
    {
        "zip": "application/zip",
        "gz": "application/gzip",
        "tgz": "application/gzip",
        "tar": "application/x-tar",
        "msi": "application/octet-stream",
        "exe": "application/octet-stream",
        "deb": "application/vnd.debian.binary-package",
        "rpm": "application/x-rpm",
        "ova": "application/octet-stream",
        "qcow2": "application/octet-stream",
        "img": "application/octet-stream",
        "pdf": "application/pdf",
        "json": "application/json",
        "txt": "text/plain",
    },
    0,  # settings.MARKETPLACE_MAX_UPLOAD_BYTES
)


@dataclass(frozen=True)
class StoredUpload:
    name: str  # the storage name
    filename: str
    content_type: str
    size: int
    sha256: str


def _extension(filename: str) -> str:
    lower = filename.lower()
    if lower.endswith(".tar.gz"):
        return "tgz"
    return lower.rsplit(".", 1)[-1] if "." in lower else ""


def _safe_filename(filename: str) -> str:
    base = os.path.basename(filename.replace("\\", "/"))
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "file"
    return base[-150:]


def store_upload(*, upload: UploadedFile | None, policy: FilePolicy, field: str, folder: str) -> StoredUpload:
    """Check and store an upload; raise ValidationFailed naming `field` when it is refused."""
    if upload is None:
        raise ValidationFailed.for_field(field, "Attach a file.")
    filename = _safe_filename(upload.name or "")
    extension = _extension(filename)
    if extension not in policy.extensions:
        allowed = ", ".join(sorted(f".{ext}" for ext in policy.extensions))
        raise ValidationFailed.for_field(field, f"This {policy.name} type is not accepted; use one of {allowed}.")
    limit = policy.max_bytes or getattr(settings, "MARKETPLACE_MAX_UPLOAD_BYTES", 50 * MB)
    if upload.size is None or upload.size == 0:
        raise ValidationFailed.for_field(field, "The file is empty.")
    if upload.size > limit:
        raise ValidationFailed.for_field(field, f"The file is larger than {limit // MB} MB.")

    digest = hashlib.sha256()
    upload.seek(0)
    head = upload.read(4096)
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)

    signatures = _SIGNATURES.get(extension)
    if signatures and not head.startswith(signatures):
        raise ValidationFailed.for_field(field, f"The file's content is not a .{extension} file.")
    if extension in ("txt", "csv", "json", "xml") and _HTML_LIKE.search(head):
        raise ValidationFailed.for_field(field, "The file looks like a web page; it is not accepted.")
    if policy is IMAGE_POLICY:
        _verify_image(upload, field)

    name = default_storage.save(f"{folder}/{uuid.uuid4().hex}/{filename}", File(upload, name=filename))
    return StoredUpload(
        name=name,
        filename=filename,
        content_type=policy.extensions[extension],
        size=upload.size,
        sha256=digest.hexdigest(),
    )


def _verify_image(upload: UploadedFile, field: str) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(upload) as image:
            image.verify()
            if image.width * image.height > 40_000_000:
                raise ValidationFailed.for_field(field, "The image is too large.")
    except ValidationFailed:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise ValidationFailed.for_field(field, "The file is not a readable image.") from None
    finally:
        upload.seek(0)
