"""Image references: a tag a build may have (Docker's grammar), the tag a variant gets, and its store-safe form."""

from __future__ import annotations

import re

from .errors import DockerfileError

#: A name component of an image reference (Docker's grammar): lowercase letters and digits, joined by
#: ``.``, ``_``, ``__`` or runs of ``-``.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG_PART = r"[\w][\w.-]{0,127}"
_REFERENCE = re.compile(rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::{_TAG_PART})?", re.ASCII)
_NAME_LIMIT = 255
_TAG_HINT = "write NAME[:TAG] in lowercase, e.g. layerlab/my-image:1.0 (letters, digits, and . _ - between them)"


def check_tag(tag: str) -> str:
    """``tag`` if it is a valid image reference to tag a build with (Docker's grammar), else a clear error."""
    if not isinstance(tag, str) or not tag:
        raise DockerfileError(f"the tag {tag!r} is empty or not text", _TAG_HINT)
    first, slash, _ = tag.partition("/")
    # Docker reads the first component as a registry only if it has a "." or a ":" or is localhost
    registry = slash and ("." in first or ":" in first or first == "localhost")
    if _REFERENCE.fullmatch(tag) and (registry or first == first.lower()):
        name = tag.rsplit(":", 1)[0] if ":" in tag.rsplit("/", 1)[-1] else tag
        if len(name) <= _NAME_LIMIT:
            return tag
        raise DockerfileError(f"the tag {tag[:40]!r}… has a name of {len(name)} characters; Docker allows "
                              f"{_NAME_LIMIT}", _TAG_HINT)
    name, _, version = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "")
    if "@" in tag:
        why = "a build cannot be tagged with a digest (@sha256:…)"
    elif version and not re.fullmatch(_TAG_PART, version, re.ASCII):
        why = f"the part after the colon, {version!r}, must be letters, digits, _ . - (at most 128, not starting " \
              "with . or -)"
    elif any(c.isspace() for c in tag):
        why = "it holds a space"
    elif (name.split("/", 1)[-1] if registry else name) != (name.split("/", 1)[-1] if registry else name).lower():
        why = "repository names must be lowercase"
    else:
        why = "it is not NAME[:TAG] in Docker's reference format"
    shown = repr(tag) if len(tag) <= 80 else repr(tag[:77]) + "…"
    raise DockerfileError(f"the tag {shown} is not a valid image name: {why}", _TAG_HINT)


def tag_for(name: str) -> str:
    """The tag a variant called ``name`` is built as: ``layerlab/NAME:latest``, NAME made a valid name."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._") or "image"
    # separators Docker allows between letters: ".", "_", "__" or a run of "-"; any other run becomes "-"
    slug = re.sub(r"[._-]{2,}", lambda m: m.group() if m.group() == "__" or set(m.group()) == {"-"} else "-",
                  slug)
    return f"layerlab/{slug[:200].rstrip('-._')}:latest"


def slug_tag(tag: str) -> str:
    """``tag`` as the embedded builder's store writes tags: runs of other characters than ``A-Za-z0-9_.-`` as ``-``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", tag).strip("-.")
