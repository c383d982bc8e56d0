"""Database access: table definitions, connections, migrations and the queue statements."""
