"""SBOMs: the component graph (`graph`) of an artifact version or of an uploaded SBOM, written as
CycloneDX 1.6 JSON (`cyclonedx`) and SPDX 2.3 JSON (`spdx`), and read back from either format.

Pure: no I/O beyond the text handed in and returned.
"""
