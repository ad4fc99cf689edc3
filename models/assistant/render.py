"""A reply's text as HTML, for clients that show it as such: the light Markdown models write
(paragraphs, line breaks, **bold**, *italics*, `code`, "- " lists, [links](https://...)) turned
into tags, then everything sanitised with nh3 (the Ammonia sanitiser): only the tags and
attributes below survive, links get rel="noopener noreferrer nofollow", and anything else a
model wrote (a script, an event handler, a javascript: link) is dropped, whatever the model
was told or tricked into writing.
"""

from __future__ import annotations

import re

import nh3

TAGS = {"p", "br", "strong", "em", "code", "ul", "ol", "li", "a"}
ATTRIBUTES = {"a": {"href"}}
URL_SCHEMES = {"https", "http", "mailto"}

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?![*\w])")
_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


def _inline(text: str) -> str:
    text = _CODE.sub(r"<code>\1</code>", text)
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    text = _ITALIC.sub(r"<em>\1</em>", text)
    return _LINK.sub(r'<a href="\2">\1</a>', text)


def _block(block: str) -> str:
    lines = [line for line in block.splitlines() if line.strip()]
    if lines and all(_ITEM.match(line) for line in lines):
        tag = "ol" if re.match(r"^\s*\d", lines[0]) else "ul"
        items = "".join(f"<li>{_inline(_ITEM.sub('', line))}</li>" for line in lines)
        return f"<{tag}>{items}</{tag}>"
    return "<p>" + "<br>".join(_inline(line) for line in lines) + "</p>"


def to_html(text: str) -> str:
    """The reply as sanitised HTML."""
    blocks = [b for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]
    html = "".join(_block(b) for b in blocks)
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
