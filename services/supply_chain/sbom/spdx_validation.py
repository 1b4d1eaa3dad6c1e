"""SPDX 2.2/2.3 document validation in linear time: spdx-tools' rules, order and wording.

spdx-tools' `validate_full_spdx_document` is quadratic in the number of elements: each end of each
relationship and each annotation's subject is looked up in a list of every SPDX id rebuilt for that
one lookup; each package without analysed files scans every relationship (and, for each CONTAINS it
finds, every package and file id again); each snippet rebuilds the list of file ids; each licence
expression the list of extracted licence ids. A 5,000-package upload took about 14 s to validate.

`validate_document` makes the same checks, in the same order, with the same `ValidationMessage`s (text
and context) so that error bodies do not change. The ids, external document references, extracted
licence ids and file containments are collected once into sets and dicts; the checks of one element
that are linear (creation info, a package's, file's or snippet's own fields, actors, checksums,
external package references, extracted licensing info) are the library's own validators, called as
the whole-document validation calls them. Only the resolution of ids and references around them is
done here, its messages copied from spdx_tools/spdx/validation/document_validator.py,
spdx_id_validators.py, license_expression_validator.py and package_validator.py (spdx-tools 0.8.5).
tests/supply_chain/test_spdx_validation.py holds both to the same output on broken and valid documents.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from license_expression import ExpressionError, ExpressionParseError  # type: ignore[import-untyped]
from spdx_tools.common.spdx_licensing import spdx_licensing  # type: ignore[import-untyped]
from spdx_tools.spdx.model.annotation import Annotation
from spdx_tools.spdx.model.document import Document
from spdx_tools.spdx.model.file import File
from spdx_tools.spdx.model.package import Package
from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
from spdx_tools.spdx.model.relationship_filters import filter_by_type_and_origin, filter_by_type_and_target
from spdx_tools.spdx.model.snippet import Snippet
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
from spdx_tools.spdx.model.spdx_none import SpdxNone
from spdx_tools.spdx.validation.actor_validator import validate_actor
from spdx_tools.spdx.validation.creation_info_validator import validate_creation_info
from spdx_tools.spdx.validation.extracted_licensing_info_validator import validate_extracted_licensing_infos
from spdx_tools.spdx.validation.file_validator import validate_file
from spdx_tools.spdx.validation.package_validator import validate_package
from spdx_tools.spdx.validation.snippet_validator import validate_snippet
from spdx_tools.spdx.validation.spdx_id_validators import (
    get_list_of_all_spdx_ids,
    is_valid_external_doc_ref_id,
    is_valid_internal_spdx_id,
)
from spdx_tools.spdx.validation.validation_message import (
    SpdxElementType,
    ValidationContext,
    ValidationMessage,
)

SUPPORTED_VERSIONS = ("SPDX-2.2", "SPDX-2.3")


def validate_document(document: Document, spdx_version: str | None = None) -> list[ValidationMessage]:
    """What `validate_full_spdx_document(document, spdx_version)` returns, in linear time."""
    messages: list[ValidationMessage] = []
    document_version = document.creation_info.spdx_version
    context = ValidationContext(spdx_id=document.creation_info.spdx_id, element_type=SpdxElementType.DOCUMENT)
    if not spdx_version:
        spdx_version = document_version
    if document_version not in SUPPORTED_VERSIONS:
        messages.append(
            ValidationMessage(
                f'only SPDX versions "SPDX-2.2" and "SPDX-2.3" are supported, but the document\'s '
                f"spdx_version is: {document_version}",
                context,
            )
        )
    elif spdx_version != document_version:
        messages.append(
            ValidationMessage(
                f"provided SPDX version {spdx_version} does not match "
                f"the document's SPDX version {document_version}",
                context,
            )
        )
    if messages:
        messages.append(
            ValidationMessage(
                "There are issues concerning the SPDX version of the document. "
                "As subsequent validation relies on the correct version, "
                "the validation process has been cancelled.",
                context,
            )
        )
        return messages

    index = _Index(document)
    messages.extend(validate_creation_info(document.creation_info, spdx_version))
    for package in document.packages:
        messages.extend(index.package(package, spdx_version))
    for file in document.files:
        messages.extend(index.file(file, spdx_version))
    for snippet in document.snippets:
        messages.extend(index.snippet(snippet, spdx_version))
    for annotation in document.annotations:
        messages.extend(index.annotation(annotation))
    for relationship in document.relationships:
        messages.extend(index.relationship(relationship, spdx_version))
    messages.extend(validate_extracted_licensing_infos(document.extracted_licensing_info))

    # Linear in the library too: one pass over the relationships, one over the ids.
    document_id = document.creation_info.spdx_id
    describes = filter_by_type_and_origin(document.relationships, RelationshipType.DESCRIBES, document_id)
    described_by = filter_by_type_and_target(
        document.relationships, RelationshipType.DESCRIBED_BY, document_id
    )
    only_a_single_package = len(document.packages) == 1 and not document.files and not document.snippets
    if not only_a_single_package and not describes + described_by:
        messages.append(
            ValidationMessage(
                f'there must be at least one relationship "{document_id} DESCRIBES ..." or "... DESCRIBED_BY '
                f'{document_id}" when there is not only a single package present',
                ValidationContext(spdx_id=document_id, element_type=SpdxElementType.DOCUMENT),
            )
        )
    seen: set[str] = set()
    duplicates: set[str] = set()
    for spdx_id in get_list_of_all_spdx_ids(document):
        (duplicates if spdx_id in seen else seen).add(spdx_id)
    if duplicates:
        messages.append(
            ValidationMessage(
                f"every spdx_id must be unique within the document, but found the following duplicates: "
                f"{sorted(duplicates)}",
                context,
            )
        )
    return messages


class _Index:
    """The document's ids and references, collected once, and the checks of each element that use them."""

    def __init__(self, document: Document) -> None:
        self.document_id: str = document.creation_info.spdx_id
        self.files: set[str] = {f.spdx_id for f in document.files}
        packages = {p.spdx_id for p in document.packages}
        self.ids: set[str] = {
            self.document_id,
            *self.files,
            *packages,
            *(s.spdx_id for s in document.snippets),
        }
        self.external_documents: set[str] = {
            r.document_ref_id for r in document.creation_info.external_document_refs
        }
        self.license_refs: set[str | None] = {e.license_id for e in document.extracted_licensing_info}
        # The library's "element type" of an id is Package before File: an id both a package and a file
        # has is not a file.
        files_only = self.files - packages
        # A package's CONTAINS of files, then files' CONTAINED_BY of it, each in document order.
        self.contained: defaultdict[str, list[Relationship]] = defaultdict(list)
        containing: defaultdict[str, list[Relationship]] = defaultdict(list)
        for relationship in document.relationships:
            source, target = relationship.spdx_element_id, relationship.related_spdx_element_id
            type_ = relationship.relationship_type
            if type_ == RelationshipType.CONTAINS and isinstance(target, str) and target in files_only:
                self.contained[source].append(relationship)
            elif type_ == RelationshipType.CONTAINED_BY and isinstance(target, str) and source in files_only:
                containing[target].append(relationship)
        for package_id, relationships in containing.items():
            self.contained[package_id].extend(relationships)

    def package(self, package: Package, spdx_version: str) -> list[ValidationMessage]:
        """package_validator.validate_package_within_document."""
        context = ValidationContext(
            spdx_id=package.spdx_id,
            parent_id=self.document_id,
            element_type=SpdxElementType.PACKAGE,
            full_element=package,
        )
        messages = [ValidationMessage(m, context) for m in self.spdx_id(package.spdx_id)]
        if not package.files_analyzed:
            combined = self.contained.get(package.spdx_id)
            if combined:
                messages.append(
                    ValidationMessage(
                        f"package must contain no elements if files_analyzed is False, but found {combined}",
                        context,
                    )
                )
        messages.extend(self.license_expression(package.license_concluded, package.spdx_id))
        license_info_from_files = package.license_info_from_files
        if license_info_from_files:
            if not package.files_analyzed:
                messages.append(
                    ValidationMessage(
                        f"license_info_from_files must be None if files_analyzed is False, but is: "
                        f"{license_info_from_files}",
                        context,
                    )
                )
            else:
                messages.extend(self.license_expressions(license_info_from_files, package.spdx_id))
        messages.extend(self.license_expression(package.license_declared, package.spdx_id))
        messages.extend(validate_package(package, spdx_version, context))
        return messages

    def file(self, file: File, spdx_version: str) -> list[ValidationMessage]:
        """file_validator.validate_file_within_document."""
        context = ValidationContext(
            spdx_id=file.spdx_id,
            parent_id=self.document_id,
            element_type=SpdxElementType.FILE,
            full_element=file,
        )
        messages = [ValidationMessage(m, context) for m in self.spdx_id(file.spdx_id)]
        messages.extend(self.license_expression(file.license_concluded, file.spdx_id))
        messages.extend(self.license_expressions(file.license_info_in_file, file.spdx_id))
        messages.extend(validate_file(file, spdx_version, context))
        return messages

    def snippet(self, snippet: Snippet, spdx_version: str) -> list[ValidationMessage]:
        """snippet_validator.validate_snippet_within_document."""
        context = ValidationContext(
            spdx_id=snippet.spdx_id,
            parent_id=self.document_id,
            element_type=SpdxElementType.SNIPPET,
            full_element=snippet,
        )
        messages = [ValidationMessage(m, context) for m in self.spdx_id(snippet.spdx_id)]
        messages.extend(
            ValidationMessage(m, context) for m in self.spdx_id(snippet.file_spdx_id, in_files=True)
        )
        messages.extend(self.license_expression(snippet.license_concluded, snippet.spdx_id))
        messages.extend(self.license_expressions(snippet.license_info_in_snippet, snippet.spdx_id))
        messages.extend(validate_snippet(snippet, spdx_version, context))
        return messages

    def annotation(self, annotation: Annotation) -> list[ValidationMessage]:
        """annotation_validator.validate_annotation."""
        context = ValidationContext(element_type=SpdxElementType.ANNOTATION, full_element=annotation)
        messages = validate_actor(annotation.annotator, "annotation")
        messages.extend(
            ValidationMessage(m, context) for m in self.spdx_id(annotation.spdx_id, in_document=True)
        )
        return messages

    def relationship(self, relationship: Relationship, spdx_version: str) -> list[ValidationMessage]:
        """relationship_validator.validate_relationship."""
        context = ValidationContext(element_type=SpdxElementType.RELATIONSHIP, full_element=relationship)
        type_ = relationship.relationship_type
        messages = [
            ValidationMessage(m, context)
            for m in self.spdx_id(relationship.spdx_element_id, in_document=True)
        ]
        related = relationship.related_spdx_element_id
        if not isinstance(related, SpdxNone | SpdxNoAssertion):
            messages.extend(ValidationMessage(m, context) for m in self.spdx_id(related, in_document=True))
        if spdx_version == "SPDX-2.2" and type_ in (
            RelationshipType.SPECIFICATION_FOR,
            RelationshipType.REQUIREMENT_DESCRIPTION_FOR,
        ):
            messages.append(ValidationMessage(f"{type_} is not supported in SPDX-2.2", context))
        return messages

    def spdx_id(self, spdx_id: str, *, in_document: bool = False, in_files: bool = False) -> list[str]:
        """spdx_id_validators.validate_spdx_id, its lookups in sets."""
        split_id = spdx_id.split(":")
        if len(split_id) > 2:
            return [
                f"spdx_id must not contain more than one colon in order to separate the external document "
                f"reference id from the internal SPDX id, but is: {spdx_id}"
            ]
        messages: list[str] = []
        if len(split_id) == 2:
            if not is_valid_external_doc_ref_id(split_id[0]):
                messages.append(
                    f"the external document reference part of spdx_id must only contain letters, numbers, "
                    f'".", "-" and "+" and must begin with "DocumentRef-", but is: {split_id[0]}'
                )
            if not is_valid_internal_spdx_id(split_id[1]):
                messages.append(
                    f'the internal SPDX id part of spdx_id must only contain letters, numbers, "." and "-" '
                    f'and must begin with "SPDXRef-", but is: {split_id[1]}'
                )
            if split_id[0] not in self.external_documents:
                messages.append(
                    f'did not find the external document reference "{split_id[0]}" in the SPDX document'
                )
            return messages
        if not is_valid_internal_spdx_id(spdx_id):
            messages.append(
                f'spdx_id must only contain letters, numbers, "." and "-" and must begin with "SPDXRef-", '
                f"but is: {spdx_id}"
            )
        if in_document and spdx_id not in self.ids:
            messages.append(f'did not find the referenced spdx_id "{spdx_id}" in the SPDX document')
        if in_files and spdx_id not in self.files:
            messages.append(f'did not find the referenced spdx_id "{spdx_id}" in the SPDX document\'s files')
        return messages

    def license_expressions(self, expressions: list[Any], parent_id: str) -> list[ValidationMessage]:
        """license_expression_validator.validate_license_expressions."""
        context = ValidationContext(
            parent_id=parent_id, element_type=SpdxElementType.LICENSE_EXPRESSION, full_element=expressions
        )
        return [m for e in expressions for m in self.license_expression(e, parent_id, context)]

    def license_expression(
        self, expression: Any, parent_id: str, context: ValidationContext | None = None
    ) -> list[ValidationMessage]:
        """license_expression_validator.validate_license_expression, its lookups in sets."""
        if expression is None or isinstance(expression, SpdxNoAssertion | SpdxNone):
            return []
        if not context:
            context = ValidationContext(
                parent_id=parent_id, element_type=SpdxElementType.LICENSE_EXPRESSION, full_element=expression
            )
        messages: list[ValidationMessage] = []
        for token in spdx_licensing.validate(expression).invalid_symbols:
            if ":" not in token:
                if token not in self.license_refs:
                    messages.append(
                        ValidationMessage(
                            f"Unrecognized license reference: {token}. license_expression must only use IDs "
                            f"from the license list or extracted licensing info, but is: {expression}",
                            context,
                        )
                    )
                continue
            split_token = token.split(":")
            if len(split_token) != 2:
                messages.append(
                    ValidationMessage(
                        f"Too many colons in license reference: {token}. "
                        "A license reference must only contain a single colon to "
                        "separate an external document reference from the license reference.",
                        context,
                    )
                )
                continue
            if not split_token[1].startswith("LicenseRef-"):
                messages.append(
                    ValidationMessage(
                        f'A license reference must start with "LicenseRef-", but is: {split_token[1]} '
                        f"in external license reference {token}.",
                        context,
                    )
                )
            if split_token[0] not in self.external_documents:
                messages.append(
                    ValidationMessage(
                        f'Did not find the external document reference "{split_token[0]}" in the SPDX '
                        f"document. From the external license reference {token}.",
                        context,
                    )
                )
        try:
            spdx_licensing.parse(str(expression), validate=True, strict=True)
        except ExpressionParseError as error:
            # An exception used as a licence or the other way round (the first one only, as the library).
            messages.append(ValidationMessage(f"{error}. for license_expression: {expression}", context))
        except ExpressionError:
            pass  # invalid symbols: listed above
        return messages
