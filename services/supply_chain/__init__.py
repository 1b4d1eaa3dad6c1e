"""Supply chain: OSV advisories, each ecosystem's version ordering and the matching of components
against them (pure logic; reads only the files it is handed).

`osv` models the records, `versions` the orderings (univers, PEP 440 via packaging), `ecosystems`
package-name normalisation, `matching` OSV's evaluation of one version against one advisory, `index`
the advisories by package and the audit of components, `sources` the files of a directory or archive,
`waivers` accepted findings with a review date.

Owned by the SupplyChainAgent.
"""
