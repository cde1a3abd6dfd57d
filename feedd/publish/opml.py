"""OPML 2.0 subscription list, for importing every feed into a reader in one step."""

from __future__ import annotations

from lxml import etree  # type: ignore[import-untyped]

from feedd.publish.common import feed_description, feed_title, feed_url, page_url
from feedd.publish.model import FeedInfo, FeedSettings

OPML_MEDIA_TYPE = "text/x-opml"


def render_opml(feeds: list[FeedInfo], settings: FeedSettings) -> bytes:
    """One outline per feed, pointing at its RSS version (the one every reader takes).

    No dateCreated: the file must be byte-identical while the subscriptions are unchanged.
    """
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = "feedd subscriptions"
    etree.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = etree.SubElement(root, "body")
    for info in feeds:
        etree.SubElement(
            body,
            "outline",
            type="rss",
            text=feed_title(info),
            title=feed_title(info),
            description=feed_description(info),
            xmlUrl=feed_url(info, settings, "rss"),
            htmlUrl=page_url(info, settings),
        )
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
