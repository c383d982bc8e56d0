"""The rules of the service (billing, tasks, keys, limits); no HTTP in here."""
