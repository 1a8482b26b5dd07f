"""Outlets, regions, promotions, opening hours, import/export, and the live catalog.

Who holds what: the database is the truth, written by the admin and console routes
(`admin_*`, each change with its `catalog_changes` row) and by imports (`importer`). Each
worker serves a `runtime.Catalog`: the outlets as `columns` in the host's `snapshot` file
(built by `loading` from the rows, mapped by every worker), an overlay of the changes since
(`live`), open-now layers (`open_now`), and the promotions indexed by scope (`offers`).
`nearby.find_nearby` is the one rule every channel asks.
"""
