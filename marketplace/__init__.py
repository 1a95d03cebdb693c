"""The shared kernel: principals, tenancy, errors, audit log, events, outbox, idempotency.

Domain apps (apps/*) import from here; this package never imports from apps/ (it reaches the
organization model and the principal resolver only through settings).
"""
