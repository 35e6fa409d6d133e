"""Projects named by a link instead of a folder: git repositories at a ref, DOIs, Zenodo, Figshare
and Dataverse records, and archive URLs, fetched into nbship's cache and opened as projects whose
identity comes from the link (refs: parsing; fetch: resolving and fetching; cache: the layout)."""
