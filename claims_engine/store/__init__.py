"""The store: SQLModel tables and the database engine, on SQLite or PostgreSQL.

An edge layer, like the CLI and the workers: the pure core never imports it. ``tables`` holds the
schema, ``db`` builds engines and migrates the schema (``upgrade``).
"""
