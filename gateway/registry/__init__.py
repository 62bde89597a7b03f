"""The function registry: records, SQLite persistence, loading through workers, ordering."""
