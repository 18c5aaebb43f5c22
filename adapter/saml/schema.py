"""XML-schema validation of signed SAML elements, compiled once by libxml2.

Before it checks a signature, pysaml2 validates the signed element against the SAML 2.0
protocol schema with the pure-Python `xmlschema` package: about 3.4 ms per element, two
elements per response, most of what a SAML login costs. This module validates against the
same schema files (the ones pysaml2 ships) with lxml's compiled XSD validator, in about
0.05 ms, and installs itself in pysaml2's place. It refuses what pysaml2's validator refuses
(tests/unit/saml/test_schema.py compares the two on valid and broken documents).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from importlib.resources import files
from typing import TYPE_CHECKING

import saml2.data.schemas
import saml2.sigver
from lxml import etree
from saml2.xml.schema import XMLSchemaError
from saml2.xml.schema import validate as pysaml2_validate

if TYPE_CHECKING:
    # What a resolver's resolve_* methods return; it exists only in lxml's stubs.
    from lxml.etree._docloader import _InputDocument

_SCHEMAS = files(saml2.data.schemas)

# Documents under validation: no DTD, no entities, no network, whatever they declare.
_DOCUMENT_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


class _BundledSchemas(etree.Resolver):
    """Every import resolves to pysaml2's bundled copy, never to the network."""

    def resolve(self, url: str | None, pubid: str | None, context: object) -> _InputDocument:
        path = _SCHEMAS.joinpath((url or "").rsplit("/", 1)[-1])
        if url is None or not path.is_file():
            raise XMLSchemaError(f"schema import {url!r} is not bundled")
        return self.resolve_filename(str(path), context)


@functools.cache
def _protocol_schema() -> etree.XMLSchema:
    # The schema files are pysaml2's own; xmldsig's declares its namespace as an entity in
    # an internal DTD subset, so entities are resolved here (and only here).
    parser = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=True)
    parser.resolvers.add(_BundledSchemas())
    source = etree.parse(str(_SCHEMAS.joinpath("saml-schema-protocol-2.0.xsd")), parser)
    return etree.XMLSchema(source)


def validate(document: str) -> None:
    """Raise pysaml2's XMLSchemaError unless the document is valid SAML 2.0 protocol XML."""
    schema = _protocol_schema()
    try:
        root = etree.fromstring(document.encode("utf-8"), _DOCUMENT_PARSER)
    except etree.XMLSyntaxError as exc:
        raise XMLSchemaError({"error": f"not well-formed: {exc}"}) from None
    if root.getroottree().docinfo.doctype:
        raise XMLSchemaError({"error": "document type declarations are refused"})
    if not schema.validate(root):
        raise XMLSchemaError({"error": str(schema.error_log.last_error)})


def problem(element: etree._Element) -> str | None:
    """Why an element (a Response, or an Assertion within one) is not valid SAML 2.0
    protocol XML; None when it is."""
    schema = _protocol_schema()
    if schema.validate(element):
        return None
    error = schema.error_log.last_error
    if error is None:
        return "invalid"
    # The kind of error and where (element names, lower-cased: no log line should look like
    # a piece of the document), never the message: it may quote a value (an e-mail).
    where = "/".join(step.rpartition(":")[2] for step in (error.path or "").split("/"))
    return f"{error.type_name} at {where.lower()}"


def install() -> None:
    """Use the compiled validator wherever pysaml2 checks a signed element."""
    _protocol_schema()  # compiled now, not on the first login
    saml2.sigver.validate_doc_with_schema = validate


@contextlib.contextmanager
def pysaml2_default() -> Iterator[None]:
    """pysaml2's own validator, for as long as the block runs (the benchmark's baseline)."""
    saved = saml2.sigver.validate_doc_with_schema
    saml2.sigver.validate_doc_with_schema = pysaml2_validate
    try:
        yield
    finally:
        saml2.sigver.validate_doc_with_schema = saved
