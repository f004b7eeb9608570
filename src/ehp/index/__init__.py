"""What a resource puts in the search index: R4's search parameters (and the custom ones in
effect), the FHIRPath that selects their values, and the extraction of index rows from a resource.

Pure code with no database: the store calls it on every write, search uses its definitions.
"""
