"""The narrative's XHTML rules (R4 Narrative, invariants txt-1 and txt-2), checked with lxml.

``Narrative.div`` must be one well-formed XHTML ``div`` in the ``http://www.w3.org/1999/xhtml``
namespace holding only the basic formatting elements and attributes of HTML 4.0 (R4 section 2.4):
no document structure, scripts, forms, frames, objects, event handlers (``onclick``...) or
``javascript:`` URLs, styles that load or run something; no entities but XML's own (``&reg;`` is
not one) and no DOCTYPE; images from ``#id``, relative, ``http(s)`` or ``data:`` URLs (the
official examples show a remote WADO image, which HL7's validator accepts); and some text or an
image (txt-2). The lists of names follow HL7's Java validator, the reference the conformance cases come
from. The parser resolves no entity and reads nothing from the network or disk.
"""

from __future__ import annotations

import re

from lxml import etree

__all__ = ["XHTML_NAMESPACE", "narrative_problem"]

XHTML_NAMESPACE = "http://www.w3.org/1999/xhtml"
_XHTML_PREFIX = f"{{{XHTML_NAMESPACE}}}"
_XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"
_ALLOWED_ELEMENTS = frozenset(
    [
        "p",
        "br",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "a",
        "span",
        "b",
        "em",
        "i",
        "strong",
        "small",
        "big",
        "tt",
        "dfn",
        "q",
        "var",
        "abbr",
        "acronym",
        "cite",
        "blockquote",
        "hr",
        "address",
        "bdo",
        "kbd",
        "sub",
        "sup",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "pre",
        "table",
        "caption",
        "colgroup",
        "col",
        "thead",
        "tr",
        "tfoot",
        "tbody",
        "th",
        "td",
        "code",
        "samp",
        "img",
        "map",
        "area",
    ]
)
_ALLOWED_ATTRIBUTES = frozenset(
    [
        "title",
        "style",
        "class",
        "id",
        "lang",
        "dir",
        "accesskey",
        "tabindex",
        "colspan",
        "rowspan",
        "href",
        "name",
        "src",
        "alt",
        "width",
        "height",
        "border",
        "cellpadding",
        "cellspacing",
        "summary",
        "abbr",
        "axis",
        "headers",
        "scope",
        "align",
        "char",
        "charoff",
        "valign",
        "frame",
        "rules",
        "start",
        "type",
        "span",
        "value",
        "compact",
        "nowrap",
        "bgcolor",
        "shape",
        "coords",
        "datetime",
        "cite",
    ]
)
_LINK_ATTRIBUTES = frozenset({"href", "src", "cite"})
_CHECKED_ATTRIBUTES = _LINK_ATTRIBUTES | {"style"}
_SCRIPTED_URL = re.compile(r"^\s*(?:javascript|vbscript|data\s*:\s*text/html)\s*:?", re.IGNORECASE)
_IMAGE_SOURCE = re.compile(r"^\s*(?:[A-Za-z][A-Za-z0-9+.\-]*:)")  # a scheme
_IMAGE_SCHEMES = ("http:", "https:", "data:")
_STYLE_URL = re.compile(
    r"url\s*\(\s*['\"]?\s*(?!data\s*:)[A-Za-z][A-Za-z0-9+.\-]*:|expression\s*\(|@import|behavior\s*:",
    re.IGNORECASE,
)
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=False,
)


def narrative_problem(text: str) -> str | None:
    """Why ``text`` is not a valid R4 narrative ``div``, or None when it is."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        return "the narrative must not hold a DOCTYPE or entity declarations"
    try:
        root = etree.fromstring(text.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError as error:
        message = str(error)
        entity = re.search(r"Entity '([^']+)' not defined", message)
        if entity:
            return (
                f"invalid entity in the XHTML ('&{entity.group(1)};'): "
                "only &amp; &lt; &gt; &quot; &apos; and numeric ones"
            )
        return f"the narrative is not well-formed XHTML: {message}"
    if root.tag != f"{{{XHTML_NAMESPACE}}}div":
        return f"the narrative must be a <div> in the {XHTML_NAMESPACE} namespace, found {_name(root)}"
    has_content = False
    for element in root.iter():
        if not isinstance(element.tag, str):  # comments and processing instructions
            if isinstance(element, etree._ProcessingInstruction):
                return "the narrative must not hold processing instructions"
            continue
        if not element.tag.startswith(_XHTML_PREFIX):
            return f"element {_name(element)} is not XHTML (at {_location(root, element)})"
        local = element.tag[len(_XHTML_PREFIX) :]
        if local not in _ALLOWED_ELEMENTS:
            return f"element <{local}> is not allowed in a narrative (at {_location(root, element)})"
        for attribute, value in element.attrib.items():
            problem = _attribute_problem(local, attribute, value)
            if problem:
                return f"{problem} (at {_location(root, element)})"
        if local == "img":
            has_content = True
        if (element.text and element.text.strip()) or (
            element is not root and element.tail and element.tail.strip()
        ):
            has_content = True
    if not has_content:
        return "the narrative must have some non-whitespace content (txt-2)"
    return None


def _attribute_problem(element: str, attribute: str, value: str) -> str | None:
    if attribute in _ALLOWED_ATTRIBUTES and attribute not in _CHECKED_ATTRIBUTES:
        return None
    qualified = etree.QName(attribute)
    if qualified.namespace == _XML_NAMESPACE and qualified.localname in ("lang", "space"):
        return None
    if qualified.namespace is not None:
        return f"attribute {attribute} is not allowed"
    name = qualified.localname
    if name not in _ALLOWED_ATTRIBUTES:
        if name.lower().startswith("on"):
            return f"event handler attribute {name} is not allowed on <{element}>"
        return f"attribute {name} is not allowed on <{element}>"
    if name in _LINK_ATTRIBUTES and _SCRIPTED_URL.match(value):
        return f"a scripted URL in {name} is not allowed on <{element}>"
    if (
        element == "img"
        and name == "src"
        and _IMAGE_SOURCE.match(value)
        and not value.startswith(_IMAGE_SCHEMES)
    ):
        return f"an image must be #id, a relative, http(s) or data: URL, not {value[:80]!r}"
    if name == "style" and _STYLE_URL.search(value):
        return "a style must not load anything (url() of another server, expression(), @import, behavior)"
    return None


def _name(element: etree._Element) -> str:
    qualified = etree.QName(element)
    if qualified.namespace:
        return f"<{qualified.localname}> in namespace {qualified.namespace}"
    return f"<{qualified.localname}> without a namespace"


def _location(root: etree._Element, element: etree._Element) -> str:
    """An XPath-like location inside the div (``div/p[2]/script``)."""
    steps: list[str] = []
    current: etree._Element | None = element
    while current is not None and current is not root:
        parent = current.getparent()
        local = etree.QName(current).localname
        if parent is not None:
            same = [
                sibling for sibling in parent if isinstance(sibling.tag, str) and sibling.tag == current.tag
            ]
            steps.append(f"{local}[{same.index(current) + 1}]" if len(same) > 1 else local)
        current = parent
    return "/".join(["div", *reversed(steps)])
