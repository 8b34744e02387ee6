"""Search spaces as data: the TOML files of search_spaces/, parsed and checked."""
