"""Database schemas: load them (models, a live database, DDL, snapshots), check them for drift.

``source.load_schema(source, base_dir)`` is the one entry point for loading;
``drift.check_drift(documented, live)`` the one for comparing.
"""
