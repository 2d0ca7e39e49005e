"""pfsd storage: SQLite metadata (WAL), a content-addressed blob store, and their GC."""
