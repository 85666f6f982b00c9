"""Makes asdf's output byte-stable: the extension history list in a stable order.

asdf records the extensions a write used by iterating a set of extension
objects hashed by identity, so their order in `history: extensions:` (and with
it every later byte offset) can change from one run to the next. The pinned asdf
version (see scripts/requirements.txt) keeps that set in
SerializationContext._extensions_used; this module orders it by extension URI.
"""

from __future__ import annotations

import contextlib

from asdf.extension import _serialization_context as serialization_context


@contextlib.contextmanager
def stable_extension_history():
    """Within the block, asdf lists used extensions sorted by URI (then class name)."""
    context_class = serialization_context.SerializationContext
    original = context_class.__dict__["_extensions_used"]
    if not isinstance(original, property):
        raise RuntimeError("asdf changed SerializationContext._extensions_used; update asdf_determinism.py")

    def sorted_extensions(self):
        return sorted(original.fget(self), key=lambda ext: (ext.extension_uri or "", ext.class_name or ""))

    context_class._extensions_used = property(sorted_extensions)
    try:
        yield
    finally:
        context_class._extensions_used = original
