"""Storage & cache layer: SQLAlchemy tables and repositories, migrations, blobs, bus."""
