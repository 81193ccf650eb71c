"""Turn a fetched page into text: its title, its main text, and its links as absolute URLs.

HTML is parsed with BeautifulSoup's ``html.parser`` (no native parser needed). Scripts, styles, navigation,
footers and other chrome are dropped; ``<main>`` or ``<article>`` is preferred when the page has one.
The text is still whatever the page says: callers must treat it as untrusted data.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning
from bs4.element import Comment, Tag

from connectors.web import Page

DROPPED = (
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "footer",
    "header",
    "aside",
    "form",
    "svg",
    "iframe",
)
MAX_LINKS = 200
_SPACE = re.compile(r"\s+")
BLOCKS = (
    "p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "section", "article", "main",
    "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "figure", "figcaption", "body",
)  # fmt: skip


@dataclass(frozen=True)
class Extracted:
    """What a page says, as text."""

    title: str
    text: str
    links: list[str] = field(default_factory=list)


def _lines(text: str) -> str:
    """Collapse whitespace inside lines and drop empty ones."""
    out = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in out if line)


def _block_text(root: Tag | BeautifulSoup) -> str:
    """Return the text with one line per block element (inline tags and source newlines do not break)."""
    for node in list(root.find_all(string=True)):
        if not isinstance(node, Comment):
            node.replace_with(_SPACE.sub(" ", str(node)))
        else:
            node.extract()
    for tag in root.find_all(BLOCKS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    return _lines(root.get_text(""))


def extract_html(html: bytes | str, base_url: str, charset: str | None = None) -> Extracted:
    """Extract the title, main text and absolute links of an HTML document."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(html, "html.parser", from_encoding=charset if isinstance(html, bytes) else None)
    title_tag = soup.find("title")
    title = " ".join(title_tag.get_text(" ").split()) if title_tag else ""
    base = base_url
    base_tag = soup.find("base", href=True)
    if isinstance(base_tag, Tag):
        base = urljoin(base_url, str(base_tag["href"]))
    links: list[str] = []
    for a in soup.find_all("a", href=True):
        if not isinstance(a, Tag):
            continue
        href = urldefrag(urljoin(base, str(a["href"]).strip()))[0]
        if href.startswith(("http://", "https://")) and href not in links:
            links.append(href)
        if len(links) >= MAX_LINKS:
            break
    for tag in soup.find_all(DROPPED):
        tag.decompose()
    main = soup.find("main") or soup.find("article") or soup.find("body") or soup
    if title_tag is not None and title_tag in main.descendants:
        title_tag.decompose()
    if not title:
        h1 = main.find("h1")
        title = " ".join(h1.get_text(" ").split()) if h1 else ""
    return Extracted(title=title, text=_block_text(main), links=links)


def extract(page: Page) -> Extracted:
    """Extract a fetched page (HTML parsed; plain text kept as it is, its first line as title)."""
    if page.is_html:
        return extract_html(page.body, page.final_url, page.charset)
    text = _lines(page.text())
    first = text.split("\n", 1)[0][:120]
    return Extracted(title=first, text=text)
